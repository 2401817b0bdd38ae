//! Cursor pagination, the same for every list: optional `limit` and
//! `cursor` query parameters (empty means absent), newest first, and one
//! row more fetched than asked to tell whether another page follows.

use std::str::FromStr;

use crate::error::{ApiError, ErrorCode};

/// Page size when none is asked for.
pub(crate) const DEFAULT_PAGE: u32 = 20;
/// Largest page.
pub(crate) const MAX_PAGE: u32 = 100;

/// A query parameter, an empty one counting as absent.
pub(crate) fn present(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// The page size asked for, or the default.
pub(crate) fn limit(value: Option<String>) -> Result<u32, ApiError> {
    match present(value) {
        None => Ok(DEFAULT_PAGE),
        Some(text) => text.parse().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| {
            ApiError::new(ErrorCode::InvalidLimit, format!("limit must be a whole number from 1 to {MAX_PAGE}"))
        }),
    }
}

/// The id the page starts after, if a cursor was given.
pub(crate) fn cursor<T: FromStr>(value: Option<String>) -> Result<Option<T>, ApiError> {
    present(value)
        .map(|c| c.parse::<T>())
        .transpose()
        .map_err(|_| ApiError::new(ErrorCode::InvalidCursor, "cursor must be a next_cursor value from a previous page"))
}

/// Cuts `rows` (fetched with `limit + 1`) to the page; the next page's
/// cursor if another follows.
pub(crate) fn next_cursor<T, C>(rows: &mut Vec<T>, limit: u32, id: impl Fn(&T) -> C) -> Option<C> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    if more { rows.last().map(id) } else { None }
}
