//! JSON Lines: one entry (or anchor) per line, how logs leave their store
//! and how anchors leave the signer. Blank lines are skipped; anything
//! else that is not one whole object of the expected shape is refused with
//! its line number.

use std::io::BufRead;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Anchor, Entry};

/// What is written one per line: [`Entry`] and [`Anchor`].
pub trait JsonLine: Serialize + DeserializeOwned + private::Sealed {
    /// The object on one line, with its `\n`.
    fn to_line(&self) -> String {
        // Strings, integers, hashes and a `Value`: nothing here can fail
        // to serialise (no map with non-string keys, no I/O).
        #[allow(clippy::expect_used)]
        let mut line = serde_json::to_string(self).expect("entries and anchors always serialise");
        line.push('\n');
        line
    }
}

impl JsonLine for Entry {}
impl JsonLine for Anchor {}

mod private {
    pub trait Sealed {}
    impl Sealed for crate::Entry {}
    impl Sealed for crate::Anchor {}
}

/// A line that is not what it should be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// The line, from 1.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// Each item on its own line.
pub fn to_jsonl<'a, T: JsonLine + 'a>(items: impl IntoIterator<Item = &'a T>) -> String {
    items.into_iter().map(JsonLine::to_line).collect()
}

/// Every item of a JSON Lines text, or the first line that is not one.
pub fn parse_jsonl<T: JsonLine>(text: &str) -> Result<Vec<T>, ParseError> {
    read_jsonl(text.as_bytes()).collect()
}

/// The items of a JSON Lines stream, one at a time (a log too big to hold).
pub fn read_jsonl<T: JsonLine, R: BufRead>(reader: R) -> JsonLines<T, R> {
    JsonLines { reader, line: 0, buffer: String::new(), done: false, item: PhantomData }
}

/// Iterator of [`read_jsonl`]. After an error it ends.
#[derive(Debug)]
pub struct JsonLines<T, R> {
    reader: R,
    line: usize,
    buffer: String,
    done: bool,
    item: PhantomData<fn() -> T>,
}

impl<T: JsonLine, R: BufRead> Iterator for JsonLines<T, R> {
    type Item = Result<T, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            self.buffer.clear();
            self.line += 1;
            match self.reader.read_line(&mut self.buffer) {
                Ok(0) => return None,
                Ok(_) if self.buffer.trim().is_empty() => continue,
                Ok(_) => {
                    let parsed = serde_json::from_str(self.buffer.trim_end_matches(['\n', '\r']));
                    return Some(parsed.map_err(|e| self.fail(e.to_string())));
                }
                Err(e) => return Some(Err(self.fail(format!("cannot read it: {e}")))),
            }
        }
        None
    }
}

impl<T, R> JsonLines<T, R> {
    /// Ends the stream with this error: nothing after a bad line is trusted.
    fn fail(&mut self, message: String) -> ParseError {
        self.done = true;
        ParseError { line: self.line, message }
    }
}
