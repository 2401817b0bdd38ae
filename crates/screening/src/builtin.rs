//! The lists shipped in `lists/`, compiled in: each one's licence allows
//! it and sits beside it (`lists/README.md` says where each comes from).

use crate::{Format, ParsedList, parse_list};

/// (file name, format, bytes) of every shipped list.
pub(crate) const SHIPPED: [(&str, Format, &[u8]); 15] = [
    (
        "ultrasoundmoney_ofac_ethereum_addresses.csv",
        Format::OfacCsv,
        include_bytes!("../lists/ultrasoundmoney_ofac_ethereum_addresses.csv"),
    ),
    (
        "0xB10C_sanctioned_addresses_ETH.txt",
        Format::Plain,
        include_bytes!("../lists/0xB10C_sanctioned_addresses_ETH.txt"),
    ),
    (
        "0xB10C_sanctioned_addresses_USDT.txt",
        Format::Plain,
        include_bytes!("../lists/0xB10C_sanctioned_addresses_USDT.txt"),
    ),
    (
        "0xB10C_sanctioned_addresses_USDC.txt",
        Format::Plain,
        include_bytes!("../lists/0xB10C_sanctioned_addresses_USDC.txt"),
    ),
    (
        "0xB10C_sanctioned_addresses_BSC.txt",
        Format::Plain,
        include_bytes!("../lists/0xB10C_sanctioned_addresses_BSC.txt"),
    ),
    (
        "0xB10C_sanctioned_addresses_ARB.txt",
        Format::Plain,
        include_bytes!("../lists/0xB10C_sanctioned_addresses_ARB.txt"),
    ),
    (
        "0xB10C_sanctioned_addresses_TRX.txt",
        Format::Plain,
        include_bytes!("../lists/0xB10C_sanctioned_addresses_TRX.txt"),
    ),
    (
        "0xB10C_sanctioned_addresses_XBT.txt",
        Format::Plain,
        include_bytes!("../lists/0xB10C_sanctioned_addresses_XBT.txt"),
    ),
    (
        "curated_lazarus_incident_addresses.csv",
        Format::IncidentCsv,
        include_bytes!("../lists/curated_lazarus_incident_addresses.csv"),
    ),
    ("etherscan_malicious_labels.csv", Format::LabelledCsv, include_bytes!("../lists/etherscan_malicious_labels.csv")),
    ("malicious_smart_contracts.csv", Format::ContractsCsv, include_bytes!("../lists/malicious_smart_contracts.csv")),
    ("lazarus.yaml", Format::TagPack, include_bytes!("../lists/lazarus.yaml")),
    ("lazarus2.yaml", Format::TagPack, include_bytes!("../lists/lazarus2.yaml")),
    (
        "etherscan-wordcloud-exchange.yaml",
        Format::TagPack,
        include_bytes!("../lists/etherscan-wordcloud-exchange.yaml"),
    ),
    (
        "etherscan-wordcloud-mixing_service.yaml",
        Format::TagPack,
        include_bytes!("../lists/etherscan-wordcloud-mixing_service.yaml"),
    ),
];

/// The shipped lists, parsed. Every one parses: `tests.rs` parses each
/// with the counts its source gives, so a list that stopped parsing fails
/// the build's tests before it could drop out of a gateway's screening.
pub fn builtin() -> Vec<ParsedList> {
    SHIPPED.iter().filter_map(|(name, format, bytes)| parse_list(name, bytes, Some(*format)).ok()).collect()
}
