//! The assets a gateway accepts, and how a request names one.

use crate::{Asset, AssetId, AssetSymbol, ChainId};

/// Every configured asset, looked up by symbol and chain.
#[derive(Clone, Debug, Default)]
pub struct AssetBook {
    assets: Vec<Asset>,
}

/// Why a request's asset could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetLookupError {
    /// No asset with that symbol is configured on any chain.
    #[error("unknown asset {symbol}; this gateway accepts {accepted}")]
    UnknownAsset {
        /// The symbol asked for.
        symbol: AssetSymbol,
        /// The symbols on offer, comma-separated.
        accepted: String,
    },
    /// The chain is not configured at all.
    #[error("unknown chain {0}")]
    UnknownChain(ChainId),
    /// The symbol exists, but not on the requested chain.
    #[error("{symbol} is not accepted on chain {chain_id}")]
    NotOnChain {
        /// The symbol asked for.
        symbol: AssetSymbol,
        /// The chain asked for.
        chain_id: ChainId,
    },
    /// No chain was given and the symbol is on several.
    #[error("{symbol} is accepted on several chains ({chains}); say which with chain_id")]
    Ambiguous {
        /// The symbol asked for.
        symbol: AssetSymbol,
        /// The chains it is on, comma-separated.
        chains: String,
    },
}

impl AssetBook {
    /// A book of `assets`. Duplicates are the configuration's job to refuse.
    pub fn new(assets: Vec<Asset>) -> Self {
        Self { assets }
    }

    /// Every asset.
    pub fn iter(&self) -> impl Iterator<Item = &Asset> {
        self.assets.iter()
    }

    /// The asset with this exact id.
    pub fn get(&self, id: AssetId) -> Option<&Asset> {
        self.assets.iter().find(|asset| asset.id == id)
    }

    /// Resolves a request's `asset` and optional `chain_id`. Without a chain,
    /// the symbol must be on exactly one.
    pub fn resolve(&self, symbol: AssetSymbol, chain_id: Option<ChainId>) -> Result<&Asset, AssetLookupError> {
        let mut with_symbol = self.assets.iter().filter(|asset| asset.id.symbol == symbol).peekable();
        if with_symbol.peek().is_none() {
            let mut accepted: Vec<_> = self.assets.iter().map(|a| a.id.symbol.to_string()).collect();
            accepted.dedup();
            return Err(AssetLookupError::UnknownAsset { symbol, accepted: accepted.join(", ") });
        }
        match chain_id {
            Some(chain_id) => {
                if !self.assets.iter().any(|asset| asset.id.chain_id == chain_id) {
                    return Err(AssetLookupError::UnknownChain(chain_id));
                }
                with_symbol
                    .find(|asset| asset.id.chain_id == chain_id)
                    .ok_or(AssetLookupError::NotOnChain { symbol, chain_id })
            }
            None => {
                let candidates: Vec<&Asset> = with_symbol.collect();
                match candidates.as_slice() {
                    [only] => Ok(only),
                    _ => {
                        let chains: Vec<_> = candidates.iter().map(|a| a.id.chain_id.to_string()).collect();
                        Err(AssetLookupError::Ambiguous { symbol, chains: chains.join(", ") })
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AssetKind;
    use alloy_primitives::Address;

    fn asset(symbol: &str, chain: u64) -> Asset {
        Asset {
            id: AssetId { chain_id: ChainId(chain), symbol: symbol.parse().unwrap() },
            kind: AssetKind::Erc20 { contract: Address::ZERO },
            decimals: 6,
        }
    }

    #[test]
    fn resolves_by_symbol_and_chain() {
        let book = AssetBook::new(vec![asset("ETH", 1), asset("USDT", 1), asset("USDT", 137)]);
        let sym = |s: &str| s.parse::<AssetSymbol>().unwrap();
        assert_eq!(book.resolve(sym("eth"), None).unwrap().id.chain_id, ChainId(1));
        assert_eq!(book.resolve(sym("USDT"), Some(ChainId(137))).unwrap().id.chain_id, ChainId(137));
        assert!(matches!(book.resolve(sym("USDT"), None), Err(AssetLookupError::Ambiguous { .. })));
        assert!(matches!(book.resolve(sym("DAI"), None), Err(AssetLookupError::UnknownAsset { .. })));
        assert_eq!(book.resolve(sym("USDT"), Some(ChainId(5))), Err(AssetLookupError::UnknownChain(ChainId(5))));
        assert!(matches!(book.resolve(sym("ETH"), Some(ChainId(137))), Err(AssetLookupError::NotOnChain { .. })));
    }
}
