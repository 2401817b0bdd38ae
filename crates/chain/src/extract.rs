//! Transfers out of logs and transactions.

use alloy_primitives::{Address, B256, U256, b256};
use alloy_rpc_types_eth::Log;
use coffer_domain::{AssetId, BlockHeader, BlockRef, Timestamp};

use crate::node::RpcTransaction;
use crate::{AddressFilter, Transfer};

/// `keccak256("Transfer(address,address,uint256)")`, the ERC-20 event.
pub(crate) const TRANSFER_TOPIC: B256 = b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

/// An ERC-20 `Transfer` log to a watched address, if `log` is one.
///
/// ERC-721 uses the same event signature with the value as a third indexed
/// topic and no data; only the ERC-20 shape (three topics, 32 bytes of
/// data) counts. Zero-value transfers (address-poisoning spam) never count.
pub(crate) fn erc20_transfer(log: &Log, asset: AssetId, filter: &dyn AddressFilter) -> Option<PartialTransfer> {
    if log.removed {
        return None;
    }
    let topics = log.topics();
    if topics.len() != 3 || topics[0] != TRANSFER_TOPIC || log.data().data.len() != 32 {
        return None;
    }
    let to = Address::from_word(topics[2]);
    if !filter.watches(&to) {
        return None;
    }
    let value = U256::from_be_slice(&log.data().data);
    if value.is_zero() {
        return None;
    }
    Some(PartialTransfer {
        asset,
        from: Address::from_word(topics[1]),
        to,
        value,
        tx_hash: log.transaction_hash?,
        log_index: Some(log.log_index?),
        call_path: None,
        block: BlockRef { number: log.block_number?, hash: log.block_hash? },
    })
}

/// A native transfer to a watched address, if `tx` is one. Whether it
/// succeeded is for the caller to check (its receipt).
pub(crate) fn native_transfer(
    tx: &RpcTransaction,
    asset: AssetId,
    block: &BlockHeader,
    filter: &dyn AddressFilter,
) -> Option<PartialTransfer> {
    let to = tx.to?;
    if tx.value.is_zero() || !filter.watches(&to) {
        return None;
    }
    Some(PartialTransfer {
        asset,
        from: tx.from,
        to,
        value: tx.value,
        tx_hash: tx.hash,
        log_index: None,
        call_path: None,
        block: block.block_ref(),
    })
}

/// A transfer before its block time is known: nodes differ in whether logs
/// carry `blockTimestamp`, so it is taken from the header read for the block.
#[derive(Clone, Debug)]
pub(crate) struct PartialTransfer {
    pub(crate) asset: AssetId,
    pub(crate) from: Address,
    pub(crate) to: Address,
    pub(crate) value: U256,
    pub(crate) tx_hash: B256,
    pub(crate) log_index: Option<u64>,
    pub(crate) call_path: Option<String>,
    pub(crate) block: BlockRef,
}

impl PartialTransfer {
    pub(crate) fn complete(self, block_time: u64) -> Transfer {
        Transfer {
            asset: self.asset,
            from: self.from,
            to: self.to,
            value: self.value,
            tx_hash: self.tx_hash,
            log_index: self.log_index,
            call_path: self.call_path,
            block: self.block,
            block_time: Timestamp::from_unix_secs(block_time),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::str::FromStr;

    use alloy_primitives::{Bytes, LogData, address};
    use coffer_domain::{AssetSymbol, ChainId};

    use super::*;

    struct Watch(HashSet<Address>);
    impl AddressFilter for Watch {
        fn watches(&self, address: &Address) -> bool {
            self.0.contains(address)
        }
    }

    const SHOP: Address = address!("00000000000000000000000000000000000c0ffe");

    fn usdt() -> AssetId {
        AssetId { chain_id: ChainId(1), symbol: AssetSymbol::from_str("USDT").unwrap() }
    }

    fn log(topics: Vec<B256>, data: Vec<u8>) -> Log {
        Log {
            inner: alloy_primitives::Log {
                address: Address::repeat_byte(0x70),
                data: LogData::new_unchecked(topics, Bytes::from(data)),
            },
            block_hash: Some(B256::repeat_byte(1)),
            block_number: Some(7),
            block_timestamp: None,
            transaction_hash: Some(B256::repeat_byte(2)),
            transaction_index: Some(0),
            log_index: Some(3),
            removed: false,
        }
    }

    fn value(units: u64) -> Vec<u8> {
        U256::from(units).to_be_bytes::<32>().to_vec()
    }

    #[test]
    fn only_erc20_transfers_of_value_to_watched_addresses_count() {
        let watch = Watch(HashSet::from([SHOP]));
        let payer = Address::repeat_byte(0xaa).into_word();
        let good = log(vec![TRANSFER_TOPIC, payer, SHOP.into_word()], value(12_500_000));
        let t = erc20_transfer(&good, usdt(), &watch).unwrap();
        assert_eq!((t.to, t.value, t.log_index, t.block.number), (SHOP, U256::from(12_500_000u64), Some(3), 7));
        assert_eq!(t.from, Address::repeat_byte(0xaa));

        let elsewhere = log(vec![TRANSFER_TOPIC, payer, Address::repeat_byte(9).into_word()], value(1));
        assert!(erc20_transfer(&elsewhere, usdt(), &watch).is_none(), "not a watched address");
        let zero = log(vec![TRANSFER_TOPIC, payer, SHOP.into_word()], value(0));
        assert!(erc20_transfer(&zero, usdt(), &watch).is_none(), "zero-value spam");
        let nft = log(vec![TRANSFER_TOPIC, payer, SHOP.into_word(), B256::with_last_byte(5)], vec![]);
        assert!(erc20_transfer(&nft, usdt(), &watch).is_none(), "ERC-721 shape");
        let other_event = log(vec![B256::repeat_byte(4), payer, SHOP.into_word()], value(1));
        assert!(erc20_transfer(&other_event, usdt(), &watch).is_none());
        let mut removed = good;
        removed.removed = true;
        assert!(erc20_transfer(&removed, usdt(), &watch).is_none(), "a log the node took back");
    }

    #[test]
    fn transfer_topic_is_the_erc20_event() {
        assert_eq!(TRANSFER_TOPIC, alloy_primitives::keccak256("Transfer(address,address,uint256)"));
    }
}
