//! The chain module against real anvil (coffer-devnet) and real HTTP.
//!
//! In-crate tests, not `tests/it`: `WalletKey` and this module's API are
//! crate-private on purpose, and a `testing` feature would expose them.
//! Keys come from anvil's well-known dev mnemonic, derived here with
//! coins-bip32 (not through `SignerSeed`, which other work is changing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod node;
mod plans;
mod pool;
mod transfers;

use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use coffer_devnet::{ANVIL_CHAIN_ID, Anvil, AnvilOptions, TestToken, deploy_test_usdt};
use coins_bip32::xkeys::XPriv;
use coins_bip39::{English, Mnemonic};

use super::*;
use crate::wallet_key::WalletKey;

/// anvil's and hardhat's development mnemonic.
const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// Deadline of each RPC call in the tests: generous, it bounds only a failure.
const TIMEOUT: Duration = Duration::from_secs(5);

/// `m/44'/60'/0'/0/index` of the dev mnemonic: anvil funds indices 0 to 9
/// with 10,000 ETH each; index 0 deployed the test token.
fn dev_key(index: u32) -> WalletKey {
    let mnemonic = Mnemonic::<English>::new_from_phrase(DEV_MNEMONIC).unwrap();
    let root = XPriv::root_from_seed(&mnemonic.to_seed(None).unwrap(), None).unwrap();
    let key = root.derive_path(format!("m/44'/60'/0'/0/{index}").as_str()).unwrap();
    WalletKey::new(AsRef::<k256::ecdsa::SigningKey>::as_ref(&key).clone())
}

/// An address nobody holds a key to, distinct per `tag`.
fn payee(tag: u8) -> Address {
    Address::repeat_byte(tag)
}

/// A running anvil and our client for it.
struct Chain {
    anvil: Anvil,
    rpc: ChainRpc,
}

impl Chain {
    async fn start() -> Self {
        let anvil = Anvil::spawn(AnvilOptions::default()).await.unwrap();
        let rpc = ChainRpc::new(&anvil.http_url(), ANVIL_CHAIN_ID, TIMEOUT).unwrap();
        Chain { anvil, rpc }
    }

    /// The test USDT, with `units` minted to `holder`.
    async fn token(&self, holder: Address, units: u64) -> TestToken {
        let token = deploy_test_usdt(self.anvil.rpc()).await.unwrap();
        token.mint(self.anvil.rpc(), holder, U256::from(units)).await.unwrap();
        token
    }

    /// A native transfer of `value` from `key` at its next nonce, priced now.
    async fn native_plan(&self, key: &WalletKey, to: Address, value: u64) -> TxPlan {
        let nonce = self.rpc.nonce(key.address(), NonceTag::Pending).await.unwrap();
        let fees = self.rpc.fees().await.unwrap();
        native_transfer(ANVIL_CHAIN_ID, nonce, to, U256::from(value), fees)
    }

    /// The receipt of `hash`, which must be mined (anvil mines each
    /// transaction as it arrives unless automine is off).
    async fn mined(&self, hash: B256) -> MinedReceipt {
        for _ in 0..500 {
            if let Some(receipt) = self.rpc.receipt(hash).await.unwrap() {
                return receipt;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{hash} was not mined");
    }
}
