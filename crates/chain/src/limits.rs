//! How many blocks one `eth_getLogs` request may span.
//!
//! Providers cap log queries: by blocks (QuickNode, Alchemy's free tier),
//! or by results (Infura and Erigon at 10,000, Alchemy by response size),
//! and many say in their refusal which range would do ("try with this
//! block range [0x…, 0x…]"). Every query spans at most the configured
//! `log_range`; a refusal for size takes the span down to what the node
//! suggested, or halves it, and the read is tried again at once. After a
//! run of reads that went through, the span doubles back towards
//! `log_range`, so one busy stretch of chain does not slow every later one.

/// Reads in a row that must go through before the span grows again.
const GROW_AFTER: u32 = 16;

/// The span of the next log queries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LogSpan {
    /// The configured most.
    max: u64,
    /// What the node takes now.
    current: u64,
    /// Reads that went through since the span last changed.
    fine: u32,
}

impl LogSpan {
    pub(crate) fn new(max: u64) -> Self {
        let max = max.max(1);
        Self { max, current: max, fine: 0 }
    }

    /// Blocks the next query may span.
    pub(crate) fn blocks(&self) -> u64 {
        self.current
    }

    /// The node refused a query of `asked` blocks for its size; `suggested`
    /// is the span it said would do. `false` if the span cannot shrink any
    /// more (one block refused: retrying the same cannot help).
    pub(crate) fn refused(&mut self, asked: u64, suggested: Option<u64>) -> bool {
        let smaller = match suggested {
            Some(span) if span >= 1 && span < asked => span,
            _ => asked / 2,
        };
        self.fine = 0;
        if smaller == 0 || asked <= 1 {
            return false;
        }
        self.current = smaller.min(self.current).max(1);
        true
    }

    /// A read went through.
    pub(crate) fn went_through(&mut self) {
        if self.current == self.max {
            return;
        }
        self.fine += 1;
        if self.fine >= GROW_AFTER {
            self.current = (self.current * 2).min(self.max);
            self.fine = 0;
        }
    }
}

/// Whether a node's error about `eth_getLogs` says the query was too large
/// (rather than malformed), and the span it suggests, if any. The wording
/// is each provider's own; these are the ones seen in the wild.
pub(crate) fn log_limit(message: &str, data: Option<&str>) -> Option<Option<u64>> {
    let text = message.to_ascii_lowercase();
    // A provider's rate or quota limit is not about this query's size:
    // shrinking the range would only send more requests into it.
    const SAYS_RATE: [&str; 10] = [
        "rate",
        "quota",
        "compute unit",
        "too many requests",
        "per second",
        "daily",
        "credit",
        "throughput",
        "capacity",
        "throttl",
    ];
    if SAYS_RATE.iter().any(|phrase| text.contains(phrase)) {
        return None;
    }
    const SAYS_TOO_LARGE: [&str; 10] = [
        "more than",
        "results",
        "block range",
        "range too",
        "too large",
        "response size",
        "limited to a",
        "max range",
        "range should work",
        "try with",
    ];
    let in_data = data.and_then(data_span);
    if in_data.is_none() && !SAYS_TOO_LARGE.iter().any(|phrase| text.contains(phrase)) {
        return None;
    }
    Some(suggested_span(message).or(in_data))
}

/// A suggested range in a refusal's words: `[0x10, 0x2f]` (Infura,
/// Alchemy), `0x10-0x2f` or `16-47` (Erigon, Reth): the blocks it spans.
fn suggested_span(text: &str) -> Option<u64> {
    let numbers = numbers(text);
    // The last two numbers that form a range: providers name the range last.
    numbers.windows(2).rev().find_map(|pair| (pair[1] >= pair[0]).then(|| pair[1] - pair[0] + 1))
}

/// A suggested range in a refusal's data, `{"from": "0x64", "to": "0x95"}` (Infura).
fn data_span(data: &str) -> Option<u64> {
    let value: serde_json::Value = serde_json::from_str(data).ok()?;
    let number = |key: &str| match &value[key] {
        serde_json::Value::String(text) => numbers(text).first().copied(),
        other => other.as_u64(),
    };
    let (from, to) = (number("from")?, number("to")?);
    (to >= from).then(|| to - from + 1)
}

/// Every number in `text`, hex (`0x…`) or decimal, in order.
fn numbers(text: &str) -> Vec<u64> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'0' && bytes.get(i + 1).is_some_and(|b| *b == b'x' || *b == b'X') {
            let start = i + 2;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_hexdigit() {
                end += 1;
            }
            if let Some(n) = text.get(start..end).and_then(|h| u64::from_str_radix(h, 16).ok()) {
                found.push(n);
            }
            i = end.max(i + 2);
        } else if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if let Some(n) = text.get(start..i).and_then(|d| d.parse().ok()) {
                found.push(n);
            }
        } else {
            i += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_for_size_are_recognised_with_their_suggested_span() {
        let infura = "query returned more than 10000 results. Try with this block range [0x1e8480, 0x1e84ff].";
        assert_eq!(log_limit(infura, None), Some(Some(128)));
        let alchemy = "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range \
                       and no limit on the response size, or you can request any block range with a cap of 10K logs \
                       in the response. Based on your parameters, this block range should work: [0x10, 0x2f]";
        assert_eq!(log_limit(alchemy, None), Some(Some(32)));
        assert_eq!(log_limit("query exceeds max results 20000, retry with the range 100-149", None), Some(Some(50)));
        assert_eq!(log_limit("eth_getLogs is limited to a 10000 range", None), Some(None));
        assert_eq!(log_limit("limit exceeded", Some(r#"{"from":"0x64","to":"0x95","limit":10000}"#)), Some(Some(50)));
        assert_eq!(log_limit("invalid params: unknown field `topic`", None), None, "malformed, not too large");
    }

    #[test]
    fn rate_limits_are_not_size_refusals() {
        for message in [
            "daily request count exceeded, request rate limited",
            "Your app has exceeded its compute units per second capacity. If you have retries enabled, you can \
             safely ignore this message.",
            "project ID request rate exceeded",
            "rate limit exceeded",
            "Too many requests, please slow down",
            "limit exceeded",
        ] {
            assert_eq!(log_limit(message, None), None, "{message}");
        }
    }

    #[test]
    fn the_span_follows_refusals_and_grows_back_slowly() {
        let mut span = LogSpan::new(1000);
        assert_eq!(span.blocks(), 1000);
        assert!(span.refused(1000, Some(128)));
        assert_eq!(span.blocks(), 128, "the node's suggestion");
        assert!(span.refused(128, None));
        assert_eq!(span.blocks(), 64, "halved without one");
        assert!(span.refused(64, Some(5000)), "a suggestion larger than asked is ignored");
        assert_eq!(span.blocks(), 32);
        for _ in 0..GROW_AFTER - 1 {
            span.went_through();
        }
        assert_eq!(span.blocks(), 32);
        span.went_through();
        assert_eq!(span.blocks(), 64);
        let mut one = LogSpan::new(1);
        assert!(!one.refused(1, None), "one block refused: nothing smaller to try");
    }
}
