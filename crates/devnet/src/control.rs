//! Driving anvil: accounts, payments, mining, snapshots and reorganisations.

use alloy_primitives::{Address, B256, U256};
use serde_json::{Value, json};

use crate::{DevnetError, Rpc};

impl Rpc {
    /// anvil's unlocked dev accounts (no key in our code: anvil signs).
    pub async fn accounts(&self) -> Result<Vec<Address>, DevnetError> {
        let accounts = self.call("eth_accounts", json!([])).await?;
        accounts
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| a.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| bad("account", a)))
            .collect()
    }

    /// Sends `wei` from an unlocked account; returns the transaction hash
    /// without waiting for it to be mined (mining may be manual).
    pub async fn send_eth(&self, from: Address, to: Address, wei: U256) -> Result<B256, DevnetError> {
        let hash = self.call("eth_sendTransaction", json!([{"from": from, "to": to, "value": wei}])).await?;
        parse(&hash, "transaction hash")
    }

    /// Lets `eth_sendTransaction` send from `address` without its key, and
    /// gives it `wei` for what it sends and its gas: a test, or `coffer dev
    /// pay --from`, can pay from a sanctioned address.
    pub async fn impersonate(&self, address: Address, wei: U256) -> Result<(), DevnetError> {
        self.call("anvil_impersonateAccount", json!([address])).await?;
        self.call("anvil_setBalance", json!([address, wei])).await?;
        Ok(())
    }

    /// Sends a transaction with `data` to `to`; returns its hash without waiting.
    pub async fn send_call(&self, from: Address, to: Address, data: String) -> Result<B256, DevnetError> {
        let hash = self.call("eth_sendTransaction", json!([{"from": from, "to": to, "data": data}])).await?;
        parse(&hash, "transaction hash")
    }

    /// The signed transaction `tx` as raw bytes (hex), to send again after a
    /// reorganisation dropped it.
    pub async fn raw_transaction(&self, tx: B256) -> Result<String, DevnetError> {
        let raw = self.call("eth_getRawTransactionByHash", json!([tx])).await?;
        raw.as_str().map(str::to_owned).ok_or_else(|| bad("raw transaction", &raw))
    }

    /// Sends a signed transaction; returns its hash.
    pub async fn send_raw(&self, raw: &str) -> Result<B256, DevnetError> {
        let hash = self.call("eth_sendRawTransaction", json!([raw])).await?;
        parse(&hash, "transaction hash")
    }

    /// Whether a contract is deployed at `address`.
    pub async fn has_code(&self, address: Address) -> Result<bool, DevnetError> {
        let code = self.call("eth_getCode", json!([address, "latest"])).await?;
        Ok(code.as_str().is_some_and(|c| c.len() > 2))
    }

    /// The balance of `address` in wei.
    pub async fn balance(&self, address: Address) -> Result<U256, DevnetError> {
        let balance = self.call("eth_getBalance", json!([address, "latest"])).await?;
        balance
            .as_str()
            .and_then(|s| U256::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| bad("balance", &balance))
    }

    /// The receipt of `tx`, once mined.
    pub async fn receipt(&self, tx: B256) -> Result<Option<Value>, DevnetError> {
        let receipt = self.call("eth_getTransactionReceipt", json!([tx])).await?;
        Ok((!receipt.is_null()).then_some(receipt))
    }

    /// Waits (up to 10 s) until `tx` is mined and returns its receipt.
    pub async fn wait_for_receipt(&self, tx: B256) -> Result<Value, DevnetError> {
        for _ in 0..1000 {
            if let Some(receipt) = self.receipt(tx).await? {
                return Ok(receipt);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Err(DevnetError::Transaction(format!("transaction {tx} was not mined within 10 s; is the chain mining?")))
    }

    /// Mines `blocks` blocks now.
    pub async fn mine(&self, blocks: u64) -> Result<(), DevnetError> {
        self.call("anvil_mine", json!([format!("0x{blocks:x}")])).await.map(drop).map_err(Into::into)
    }

    /// Replaces the newest `depth` blocks with as many empty ones: their
    /// transactions are gone, as when another chain wins (`anvil_reorg`).
    pub async fn reorg(&self, depth: u64) -> Result<(), DevnetError> {
        self.call("anvil_reorg", json!([depth, []])).await.map(drop).map_err(Into::into)
    }

    /// Mines one block stamped no earlier than the wall clock's next second,
    /// whatever the chain's clock says (after `anvil_reorg` it runs behind).
    pub async fn mine_at_wall_clock(&self) -> Result<(), DevnetError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        // Refused when the chain is already ahead of the wall clock; then any next block will do.
        let _ = self.call("evm_setNextBlockTimestamp", json!([now + 1])).await;
        self.mine(1).await
    }

    /// Mines a block every `secs` seconds from now on, instead of one per
    /// transaction (`evm_setIntervalMining`).
    pub async fn set_interval_mining(&self, secs: u64) -> Result<(), DevnetError> {
        self.call("evm_setIntervalMining", json!([secs])).await.map(drop).map_err(Into::into)
    }

    /// Whether each transaction is mined at once in its own block.
    pub async fn set_automine(&self, on: bool) -> Result<(), DevnetError> {
        self.call("evm_setAutomine", json!([on])).await.map(drop).map_err(Into::into)
    }

    /// The head's height.
    pub async fn block_number(&self) -> Result<u64, DevnetError> {
        let number = self.call("eth_blockNumber", json!([])).await?;
        number
            .as_str()
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
            .ok_or_else(|| bad("block number", &number))
    }

    /// The hash of the block at `number`.
    pub async fn block_hash(&self, number: u64) -> Result<B256, DevnetError> {
        let block = self.call("eth_getBlockByNumber", json!([format!("0x{number:x}"), false])).await?;
        parse(&block["hash"], "block hash")
    }

    /// Takes a snapshot of the chain; [`Rpc::revert`] goes back to it.
    pub async fn snapshot(&self) -> Result<String, DevnetError> {
        let id = self.call("evm_snapshot", json!([])).await?;
        id.as_str().map(str::to_owned).ok_or_else(|| bad("snapshot id", &id))
    }

    /// Throws away every block after the snapshot (a reorganisation, once
    /// other blocks are mined in their place).
    pub async fn revert(&self, snapshot: &str) -> Result<(), DevnetError> {
        let reverted = self.call("evm_revert", json!([snapshot])).await?;
        if reverted == Value::Bool(true) { Ok(()) } else { Err(bad("evm_revert answer", &reverted)) }
    }
}

fn bad(what: &str, value: &Value) -> DevnetError {
    DevnetError::Start(format!("unexpected {what}: {value}"))
}

fn parse<T: std::str::FromStr>(value: &Value, what: &str) -> Result<T, DevnetError> {
    value.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| bad(what, value))
}
