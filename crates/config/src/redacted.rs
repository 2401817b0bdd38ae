//! A value that must not appear in logs or error messages.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Wraps a setting whose value must not be printed: `Debug` shows
/// `<redacted>` (or `<unset>`), and the value comes out only through
/// [`Redacted::expose`], which is easy to find in review.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// The value itself. Do not log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl From<&str> for Redacted<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Redacted<String> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "<unset>" } else { "<redacted>" })
    }
}
