//! A small asset table and a policy over it, for every test.

use coffer_domain::{Address, Asset, AssetId, AssetKind, ChainId, MerchantId, U256};

use crate::{AssetPolicyFile, ChainPolicyFile, LimitsFile, Policy, PolicyFile, Treasury};

pub(crate) const CHAIN: ChainId = ChainId(1);
pub(crate) const USDT_CONTRACT: Address = Address::repeat_byte(0xd7);
pub(crate) const HOT: Address = Address::repeat_byte(0x11);
pub(crate) const COLD: Address = Address::repeat_byte(0x22);
pub(crate) const PAYEE: Address = Address::repeat_byte(0x33);

pub(crate) fn eth() -> Asset {
    Asset { id: AssetId { chain_id: CHAIN, symbol: "ETH".parse().unwrap() }, kind: AssetKind::Native, decimals: 18 }
}

pub(crate) fn usdt() -> Asset {
    Asset {
        id: AssetId { chain_id: CHAIN, symbol: "USDT".parse().unwrap() },
        kind: AssetKind::Erc20 { contract: USDT_CONTRACT },
        decimals: 6,
    }
}

pub(crate) fn table() -> Vec<Asset> {
    vec![eth(), usdt()]
}

/// USDT in whole units.
pub(crate) fn usd(whole: u64) -> U256 {
    U256::from(whole) * U256::from(1_000_000u64)
}

pub(crate) fn limits(amount_1h: &str, amount_24h: &str, count_1h: u64, count_24h: u64) -> LimitsFile {
    LimitsFile { amount_1h: amount_1h.into(), amount_24h: amount_24h.into(), count_1h, count_24h }
}

/// ETH: 1 per payout, 5 an hour, 20 a day. USDT: 1000 per payout, 5000 an
/// hour (10 payouts), 20000 a day (40); each merchant half of that.
pub(crate) fn file() -> PolicyFile {
    PolicyFile {
        version: 7,
        cooldown_secs: 0,
        assets: vec![
            AssetPolicyFile {
                chain_id: 1,
                symbol: "ETH".into(),
                max_per_payout: "1".into(),
                hot_cap: "10".into(),
                sweep_minimum: "0.01".into(),
                global: limits("5", "20", 10, 40),
                per_merchant: None,
                approval_above: None,
                outflow_floor: None,
            },
            AssetPolicyFile {
                chain_id: 1,
                symbol: "usdt".into(),
                max_per_payout: "1000".into(),
                hot_cap: "50000".into(),
                sweep_minimum: "5".into(),
                global: limits("5000", "20000", 10, 40),
                per_merchant: Some(limits("2500", "10000", 5, 20)),
                approval_above: None,
                outflow_floor: None,
            },
        ],
        chains: vec![ChainPolicyFile {
            chain_id: 1,
            fees_1h: "0.05".into(),
            fees_24h: "0.2".into(),
            top_up_per_sweep: "0.01".into(),
        }],
        approvals: None,
        // The rules' own refusals are what these tests look at; the breach
        // tripwire has its own test (tripwires.rs).
        anomaly: crate::AnomalyFile { freeze_on_global_limit: false, ..Default::default() },
        restricted: None,
    }
}

pub(crate) fn policy() -> Policy {
    Policy::new(&file(), &table()).unwrap()
}

pub(crate) fn treasury() -> Treasury {
    Treasury { hot: HOT, cold: COLD }
}

/// A fixed set of merchants, so that tests can pick one by index.
pub(crate) fn merchants(n: usize) -> Vec<MerchantId> {
    (0..n).map(|_| MerchantId::new()).collect()
}

/// 10^-3 ETH in wei: a milli-ether.
pub(crate) fn milli(n: u64) -> U256 {
    U256::from(n) * U256::from(1_000_000_000_000_000u64)
}
