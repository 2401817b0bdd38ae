//! The test forwarder: a contract that passes the ETH it is sent on to
//! another address in an internal call (contracts/Forwarder.sol).

use alloy_primitives::{Address, B256, U256};
use serde_json::json;

use crate::token::{deploy_artifact, hex_data, selector, send_and_wait, word_address};
use crate::{DevnetError, Rpc};

/// A deployed forwarder.
#[derive(Clone, Copy, Debug)]
pub struct Forwarder {
    /// Its contract address.
    pub address: Address,
}

/// Deploys `contracts/Forwarder.json` from anvil's first dev account.
pub async fn deploy_forwarder(rpc: &Rpc) -> Result<Forwarder, DevnetError> {
    let (address, _) = deploy_artifact(rpc, "Forwarder").await?;
    Ok(Forwarder { address })
}

impl Forwarder {
    /// `from` (an unlocked dev account) sends `wei` through the forwarder to
    /// `to`; returns the transaction hash once it is mined and succeeded.
    pub async fn forward(&self, rpc: &Rpc, from: Address, to: Address, wei: U256) -> Result<B256, DevnetError> {
        self.call(rpc, "forward(address)", from, to, wei).await
    }

    /// As [`Forwarder::forward`], but the inner call that sends the value
    /// fails and is caught: the transaction succeeds, nothing arrives.
    pub async fn forward_in_failing_call(
        &self,
        rpc: &Rpc,
        from: Address,
        to: Address,
        wei: U256,
    ) -> Result<B256, DevnetError> {
        self.call(rpc, "forwardInFailingCall(address)", from, to, wei).await
    }

    async fn call(
        &self,
        rpc: &Rpc,
        function: &str,
        from: Address,
        to: Address,
        wei: U256,
    ) -> Result<B256, DevnetError> {
        let data = hex_data(&[&selector(function), &word_address(to)]);
        let tx = json!({"from": from, "to": self.address, "data": data, "value": wei, "gas": "0x100000"});
        let receipt = send_and_wait(rpc, tx).await?;
        receipt["transactionHash"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| DevnetError::Transaction(format!("no transaction hash in {receipt}")))
    }
}
