//! EIP-681 payment links, which wallets open pre-filled.

use alloy_primitives::Address;

use crate::{Amount, Asset, AssetKind};

/// The EIP-681 URI that asks a wallet to pay `amount` of `asset` to `to`.
///
/// Native coin: `ethereum:<to>@<chain>?value=<wei>`.
/// ERC-20: `ethereum:<token>@<chain>/transfer?address=<to>&uint256=<units>`.
/// Amounts are integers in base units, as the EIP requires; addresses are
/// EIP-55 checksummed.
pub fn payment_uri(asset: &Asset, to: Address, amount: &Amount) -> String {
    let chain = asset.id.chain_id;
    let units = amount.units();
    match asset.kind {
        AssetKind::Native => format!("ethereum:{}@{chain}?value={units}", to.to_checksum(None)),
        AssetKind::Erc20 { contract } => {
            format!(
                "ethereum:{}@{chain}/transfer?address={}&uint256={units}",
                contract.to_checksum(None),
                to.to_checksum(None)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AssetId, ChainId};
    use alloy_primitives::address;

    #[test]
    fn builds_native_and_token_links() {
        let to = address!("0x9858EfFD232B4033E47d90003D41EC34EcaEda94");
        let usdt = Asset {
            id: AssetId { chain_id: ChainId(1), symbol: "USDT".parse().unwrap() },
            kind: AssetKind::Erc20 { contract: address!("0xdAC17F958D2ee523a2206206994597C13D831ec7") },
            decimals: 6,
        };
        let eth = Asset {
            id: AssetId { chain_id: ChainId(31337), symbol: "ETH".parse().unwrap() },
            kind: AssetKind::Native,
            decimals: 18,
        };
        assert_eq!(
            payment_uri(&usdt, to, &usdt.parse_amount("12.5").unwrap()),
            "ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address=0x9858EfFD232B4033E47d90003D41EC34EcaEda94&uint256=12500000"
        );
        assert_eq!(
            payment_uri(&eth, to, &eth.parse_amount("0.01").unwrap()),
            "ethereum:0x9858EfFD232B4033E47d90003D41EC34EcaEda94@31337?value=10000000000000000"
        );
    }
}
