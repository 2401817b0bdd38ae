//! What an address is, from the screening lists: where a trace stops (an
//! exchange, a mixer, a bridge pools money: following further proves
//! nothing) and what it flags on the way (a sanctioned address).

use alloy_primitives::Address;
use coffer_screening::ScreeningSet;
use serde::Serialize;

/// An address's label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    /// `exchange`, `mixer`, `sanction`, …
    pub category: String,
    /// The list's name for it (`Binance 14`), or the category.
    pub name: String,
    /// `list:line`.
    pub source: String,
    /// Whether the trace stops here.
    pub stops: bool,
}

impl Label {
    /// "exchange Binance 14", as "reached: …" says it.
    pub fn describe(&self) -> String {
        if self.name.eq_ignore_ascii_case(&self.category) {
            self.category.clone()
        } else {
            format!("{} {}", self.category, self.name)
        }
    }
}

/// Labels by address.
pub trait Labels {
    /// `address`'s label, if any list names it.
    fn label(&self, address: &Address) -> Option<Label>;
}

/// No labels at all: a trace that stops only at its depth.
pub struct NoLabels;

impl Labels for NoLabels {
    fn label(&self, _: &Address) -> Option<Label> {
        None
    }
}

impl Labels for ScreeningSet {
    fn label(&self, address: &Address) -> Option<Label> {
        let hit = ScreeningSet::label(self, address)?;
        Some(Label {
            category: hit.category.as_str().to_owned(),
            name: hit.label.unwrap_or(hit.category.as_str()).to_owned(),
            source: hit.source(),
            stops: hit.category.stops_trace(),
        })
    }
}
