//! The test USDT token: deployed from its committed, source-checked artifact.

use alloy_primitives::{Address, U256, keccak256};
use serde_json::{Value, json};

use crate::{DevnetError, Rpc, repo_root};

/// A deployed test token.
#[derive(Clone, Debug)]
pub struct TestToken {
    /// Its contract address.
    pub address: Address,
    /// Anvil's first dev account, which deployed it.
    pub deployer: Address,
}

pub(crate) fn selector(signature: &str) -> [u8; 4] {
    let hash = keccak256(signature.as_bytes());
    [hash[0], hash[1], hash[2], hash[3]]
}

pub(crate) fn word_address(address: Address) -> [u8; 32] {
    let mut word = [0u8; 32];
    word[12..].copy_from_slice(address.as_slice());
    word
}

pub(crate) fn hex_data(parts: &[&[u8]]) -> String {
    let mut out = String::from("0x");
    for part in parts {
        for byte in *part {
            out.push_str(&format!("{byte:02x}"));
        }
    }
    out
}

pub(crate) async fn send_and_wait(rpc: &Rpc, tx: Value) -> Result<Value, DevnetError> {
    let hash = rpc.call("eth_sendTransaction", json!([tx])).await?;
    let hash = hash
        .as_str()
        .and_then(|h| h.parse().ok())
        .ok_or_else(|| DevnetError::Transaction(format!("bad hash {hash}")))?;
    let receipt = rpc.wait_for_receipt(hash).await?;
    if receipt["status"] != "0x1" {
        return Err(DevnetError::Transaction(format!("transaction {hash} reverted")));
    }
    Ok(receipt)
}

pub(crate) fn parse_address(value: &Value, what: &str) -> Result<Address, DevnetError> {
    value.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| DevnetError::Start(format!("bad {what}: {value}")))
}

/// Deploys `contracts/TestUSDT.json` from anvil's first dev account.
pub async fn deploy_test_usdt(rpc: &Rpc) -> Result<TestToken, DevnetError> {
    let (address, deployer) = deploy_artifact(rpc, "TestUSDT").await?;
    Ok(TestToken { address, deployer })
}

/// Deploys the committed artifact `contracts/<name>.json` from anvil's
/// first dev account; returns the contract's address and the deployer.
pub(crate) async fn deploy_artifact(rpc: &Rpc, name: &str) -> Result<(Address, Address), DevnetError> {
    let path = repo_root().join(format!("contracts/{name}.json"));
    let artifact_err = |reason: String| DevnetError::Artifact { path: path.display().to_string(), reason };
    let text = std::fs::read_to_string(&path).map_err(|e| artifact_err(e.to_string()))?;
    let artifact: Value = serde_json::from_str(&text).map_err(|e| artifact_err(e.to_string()))?;
    let bytecode = artifact["bytecode"].as_str().ok_or_else(|| artifact_err("no bytecode".into()))?;
    let accounts = rpc.call("eth_accounts", json!([])).await?;
    let deployer = parse_address(&accounts[0], "dev account")?;
    let receipt = send_and_wait(rpc, json!({"from": deployer, "data": bytecode, "gas": "0x200000"})).await?;
    Ok((parse_address(&receipt["contractAddress"], "contract address")?, deployer))
}

impl TestToken {
    /// The test token already deployed at `address` (minting is open to anyone).
    pub fn at(address: Address, deployer: Address) -> Self {
        Self { address, deployer }
    }

    /// Mints `units` base units to `to`.
    pub async fn mint(&self, rpc: &Rpc, to: Address, units: U256) -> Result<(), DevnetError> {
        let data = hex_data(&[&selector("mint(address,uint256)"), &word_address(to), &units.to_be_bytes::<32>()]);
        send_and_wait(rpc, json!({"from": self.deployer, "to": self.address, "data": data})).await.map(drop)
    }

    /// The call data of `transfer(to, units)`.
    pub fn transfer_data(to: Address, units: U256) -> String {
        hex_data(&[&selector("transfer(address,uint256)"), &word_address(to), &units.to_be_bytes::<32>()])
    }

    /// Sends `units` from `from` to `to` and returns the transaction hash
    /// without waiting for a block (mining may be manual).
    pub async fn send_transfer(
        &self,
        rpc: &Rpc,
        from: Address,
        to: Address,
        units: U256,
    ) -> Result<alloy_primitives::B256, DevnetError> {
        rpc.send_call(from, self.address, Self::transfer_data(to, units)).await
    }

    /// Sends `units` from `from` (an unlocked dev account) to `to`; returns the receipt.
    pub async fn transfer(&self, rpc: &Rpc, from: Address, to: Address, units: U256) -> Result<Value, DevnetError> {
        send_and_wait(rpc, json!({"from": from, "to": self.address, "data": Self::transfer_data(to, units)})).await
    }

    /// The balance of `owner`, in base units.
    pub async fn balance_of(&self, rpc: &Rpc, owner: Address) -> Result<U256, DevnetError> {
        let data = hex_data(&[&selector("balanceOf(address)"), &word_address(owner)]);
        let result = rpc.call("eth_call", json!([{"to": self.address, "data": data}, "latest"])).await?;
        let text = result.as_str().unwrap_or_default().trim_start_matches("0x");
        U256::from_str_radix(text, 16).map_err(|e| DevnetError::Start(format!("balanceOf answered {result}: {e}")))
    }
}
