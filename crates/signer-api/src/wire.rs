//! Serde adapters for domain types whose wire form is text.

/// A U256 count of base units as a decimal string: JSON numbers stop at 2^53.
pub(crate) mod units {
    use coffer_domain::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(units: &U256, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(units)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<U256, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        if text.is_empty() || text.len() > 78 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom("base units must be a decimal string of digits"));
        }
        U256::from_str_radix(&text, 10).map_err(serde::de::Error::custom)
    }
}

/// An optional count of base units as a decimal string.
pub(crate) mod opt_units {
    use coffer_domain::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(units: &Option<U256>, serializer: S) -> Result<S::Ok, S::Error> {
        match units {
            Some(units) => super::units::serialize(units, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<U256>, D::Error> {
        #[derive(Deserialize)]
        struct Units(#[serde(with = "super::units")] U256);
        Ok(Option::<Units>::deserialize(deserializer)?.map(|u| u.0))
    }
}

/// An asset symbol as its text.
pub(crate) mod symbol {
    use coffer_domain::AssetSymbol;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(symbol: &AssetSymbol, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(symbol)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<AssetSymbol, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A non-hardened derivation index as a number.
pub(crate) mod index {
    use coffer_domain::DerivationIndex;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(index: &DerivationIndex, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(index.get())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DerivationIndex, D::Error> {
        DerivationIndex::try_from(u64::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}
