//! Why an address is listed, and the formats lists come in.

use std::fmt;
use std::str::FromStr;

/// Why an address is on a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// On a government sanctions list (OFAC's SDN list).
    Sanction,
    /// Funds taken by exploiting a contract.
    Exploit,
    /// Stolen funds: a theft, and the addresses that laundered it.
    Heist,
    /// Attributed to a perpetrator (a group's own address).
    Perpetrator,
    /// Phishing and wallet drainers.
    Phishing,
    /// Other scams.
    Scam,
    /// A mixer.
    Mixer,
    /// An exchange: a label, never a reason to hold money.
    Exchange,
    /// A bridge: a label.
    Bridge,
    /// Anything else a list names.
    Other,
}

impl Category {
    /// Every category, most severe first.
    pub const ALL: [Category; 10] = [
        Self::Sanction,
        Self::Heist,
        Self::Exploit,
        Self::Perpetrator,
        Self::Phishing,
        Self::Scam,
        Self::Mixer,
        Self::Exchange,
        Self::Bridge,
        Self::Other,
    ];

    /// Its name, as the API and the audit log spell it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sanction => "sanction",
            Self::Exploit => "exploit",
            Self::Heist => "heist",
            Self::Perpetrator => "perpetrator",
            Self::Phishing => "phishing",
            Self::Scam => "scam",
            Self::Mixer => "mixer",
            Self::Exchange => "exchange",
            Self::Bridge => "bridge",
            Self::Other => "other",
        }
    }

    /// Whether an address in this category holds a deposit and refuses a
    /// payout. Exchanges and bridges are labels: customers pay from
    /// exchanges every day.
    pub fn blocks(&self) -> bool {
        !matches!(self, Self::Exchange | Self::Bridge | Self::Other)
    }

    /// Whether a trace stops at an address in this category (the money
    /// reached a service that pools it: following further proves nothing).
    pub fn stops_trace(&self) -> bool {
        matches!(self, Self::Exchange | Self::Bridge | Self::Mixer)
    }

    /// Its rank among [`Category::ALL`]: lower is more severe.
    pub(crate) fn severity(&self) -> usize {
        Self::ALL.iter().position(|c| c == self).unwrap_or(usize::MAX)
    }
}

/// A name that is no category or format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

impl FromStr for Category {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownName(s.chars().take(40).collect()))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The formats of the lists in `../shared/data` (and `lists/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// One address a line, `#` comments (0xB10C's OFAC lists): sanctions.
    Plain,
    /// `address,name` (ultrasoundmoney's OFAC list): sanctions.
    OfacCsv,
    /// `banned_address,wallet_tag,data_source` (Forta's Etherscan labels).
    LabelledCsv,
    /// Forta's malicious contracts: the contract and its creator.
    ContractsCsv,
    /// GraphSense TagPack YAML.
    TagPack,
    /// The curated incident CSV (`incident,incident_date,chain,address,role,…`).
    IncidentCsv,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 6] =
        [Self::Plain, Self::OfacCsv, Self::LabelledCsv, Self::ContractsCsv, Self::TagPack, Self::IncidentCsv];

    /// Its name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::OfacCsv => "ofac-csv",
            Self::LabelledCsv => "labelled-csv",
            Self::ContractsCsv => "contracts-csv",
            Self::TagPack => "tagpack",
            Self::IncidentCsv => "incident-csv",
        }
    }

    /// The format a file's name and first line say it is, if they do.
    pub fn detect(file_name: &str, text: &str) -> Option<Format> {
        let name = file_name.to_ascii_lowercase();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            return Some(Self::TagPack);
        }
        let header: String = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim_start_matches('\u{feff}')
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if header.starts_with("incident,incident_date,chain,address") {
            Some(Self::IncidentCsv)
        } else if header.starts_with("contract_address,contract_tag,contract_creator") {
            Some(Self::ContractsCsv)
        } else if header.starts_with("banned_address,wallet_tag") {
            Some(Self::LabelledCsv)
        } else if header.starts_with("address,name") {
            Some(Self::OfacCsv)
        } else if name.ends_with(".txt") || name.ends_with(".list") {
            Some(Self::Plain)
        } else {
            None
        }
    }
}

impl FromStr for Format {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|f| f.as_str() == s).ok_or_else(|| UnknownName(s.chars().take(40).collect()))
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
