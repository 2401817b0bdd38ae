//! The CSV the lists use: a header row, fields separated by commas,
//! fields quoted with `"` when they hold commas (a doubled `""` inside a
//! quoted field is one quote). A field may not span lines; a line whose
//! quotes do not close is an error, not a guess.

/// A line's fields, unquoted and trimmed; `None` if a quote is left open.
pub(crate) fn fields(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field).trim().to_owned()),
            _ => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field.trim().to_owned());
    Some(fields)
}

/// A CSV document: its header's column names and its rows with their line
/// numbers (from 1), blank lines skipped.
pub(crate) struct Table<'a> {
    pub(crate) header: Vec<String>,
    pub(crate) header_line: usize,
    pub(crate) rows: Vec<(usize, &'a str)>,
}

impl<'a> Table<'a> {
    /// Splits `text` into its header and rows; `None` for an empty document.
    pub(crate) fn new(text: &'a str) -> Option<Result<Self, usize>> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let (header_index, header) = lines.next()?;
        let Some(header) = fields(header.trim_start_matches('\u{feff}')) else { return Some(Err(header_index + 1)) };
        let header = header.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        Some(Ok(Self { header, header_line: header_index + 1, rows: lines.map(|(i, l)| (i + 1, l)).collect() }))
    }

    /// The index of column `name`.
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_keep_their_commas_and_quotes() {
        assert_eq!(fields(r#"a,"b, c",d"#), Some(vec!["a".into(), "b, c".into(), "d".into()]));
        assert_eq!(fields(r#""exploiter (""main"")",x"#), Some(vec![r#"exploiter ("main")"#.into(), "x".into()]));
        assert_eq!(fields(r#"a,"open"#), None, "an unclosed quote is an error");
        assert_eq!(fields(""), Some(vec![String::new()]));
    }
}
