//! Pagination and list queries as Frontegg clients send them (`compat.md` §5.2): `_limit`,
//! `_offset` (a 0-based **page number**), `_sortBy`, `_order`, `_filter`, plus repeated
//! parameters (`_levels=1&_levels=2`). Replies are `{items, _links, _metadata}` with a
//! `totalPages` that is correct, including 0 for an empty list.
//!
//! Every query string is read through [`query_pairs`] ([`ListQuery`], and [`Params`] for
//! typed queries): rest-api sends an optional parameter it was not given as the literal
//! `undefined` (or `null`), which means absent (`compat-wave2.md` §1.6).

use axum::extract::{FromRequestParts, RawQuery};
use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Every query parameter, in order, repeated ones kept.
pub struct ListQuery {
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid query string"))?;
        Ok(ListQuery {
            pairs: query_pairs(raw.as_deref())?,
        })
    }
}

/// The query's pairs, in order, without the ones whose value is `undefined` or `null`.
pub fn query_pairs(raw: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(q) = raw else {
        return Ok(Vec::new());
    };
    let mut pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(q)
        .map_err(|_| ApiError::bad_request("invalid query string"))?;
    pairs.retain(|(_, v)| v != "undefined" && v != "null");
    Ok(pairs)
}

/// A typed query (`Query<T>` with [`query_pairs`]' reading of absent values).
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let RawQuery(raw) = RawQuery::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::bad_request("invalid query string"))?;
        let pairs = query_pairs(raw.as_deref())?;
        let text = serde_urlencoded::to_string(&pairs)
            .map_err(|_| ApiError::bad_request("invalid query string"))?;
        serde_urlencoded::from_str(&text)
            .map(Params)
            .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
    }
}

impl ListQuery {
    /// The last value of `name`; the literals `undefined` and `null` (what rest-api sends
    /// for a parameter its caller left unset, `compat-wave2.md` §1.6) are absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !matches!(*v, "undefined" | "null"))
    }

    /// Every value of `name` (repeated, or comma separated).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name || k.strip_suffix("[]") == Some(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|v| !v.is_empty() && !matches!(*v, "undefined" | "null"))
            .collect()
    }

    /// An unsigned number, within `range`, or `default` when absent.
    pub fn number(
        &self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{name} must be a number from {} to {}",
                        range.start(),
                        range.end()
                    ))
                }),
        }
    }

    /// `_order`: true for descending.
    pub fn descending(&self) -> Result<bool, ApiError> {
        match self.get("_order").map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") | Some("") => Ok(false),
            Some("DESC") => Ok(true),
            Some(_) => Err(ApiError::bad_request("_order must be ASC or DESC")),
        }
    }

    /// `_sortBy`, checked against the allowed fields.
    pub fn sort_by<'a>(&'a self, allowed: &[&str], default: &'a str) -> Result<&'a str, ApiError> {
        match self.get("_sortBy") {
            None | Some("") => Ok(default),
            Some(s) if allowed.contains(&s) => Ok(s),
            Some(_) => Err(ApiError::bad_request(format!(
                "_sortBy must be one of {}",
                allowed.join(", ")
            ))),
        }
    }

    /// The page request: `_limit` (1..=max, default 50) and `_offset` (page number).
    pub fn page(&self, max_limit: u64) -> Result<PageRequest, ApiError> {
        Ok(PageRequest {
            limit: self.number("_limit", 50, 1..=max_limit)?,
            page: self.number("_offset", 0, 0..=u64::from(u32::MAX))?,
        })
    }
}

/// Which page to return.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    /// Items per page.
    pub limit: u64,
    /// 0-based page number.
    pub page: u64,
}

/// A page of items in the paginated wrapper shape.
#[derive(Serialize)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// Relative links (query strings) to other pages.
    pub _links: Links,
    /// Totals.
    pub _metadata: Metadata,
}

/// Links to neighbouring pages, as query strings (empty when there is none).
#[derive(Serialize)]
pub struct Links {
    /// Next page.
    pub next: String,
    /// Previous page.
    pub prev: String,
    /// First page.
    pub first: String,
    /// Last page.
    pub last: String,
}

/// Totals of a paginated list.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Items in the whole list.
    pub total_items: u64,
    /// Pages in the whole list (0 when empty).
    pub total_pages: u64,
}

impl<T> Page<T> {
    /// The same page of other items.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            _links: self._links,
            _metadata: self._metadata,
        }
    }

    /// The same page of other items, built fallibly.
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            _links: self._links,
            _metadata: self._metadata,
        })
    }
}

impl PageRequest {
    /// Cut `all` (already filtered and sorted) into this page.
    pub fn apply<T>(self, all: Vec<T>) -> Page<T> {
        let total = all.len() as u64;
        let pages = total.div_ceil(self.limit);
        let start = self.page.saturating_mul(self.limit);
        let items: Vec<T> = all
            .into_iter()
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .take(usize::try_from(self.limit).unwrap_or(usize::MAX))
            .collect();
        let link = |p: u64| format!("?_limit={}&_offset={p}", self.limit);
        Page {
            items,
            _links: Links {
                next: if self.page + 1 < pages {
                    link(self.page + 1)
                } else {
                    String::new()
                },
                prev: if self.page > 0 && pages > 0 {
                    link((self.page - 1).min(pages - 1))
                } else {
                    String::new()
                },
                first: if pages > 0 { link(0) } else { String::new() },
                last: if pages > 0 {
                    link(pages - 1)
                } else {
                    String::new()
                },
            },
            _metadata: Metadata {
                total_items: total,
                total_pages: pages,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_counted_exactly() {
        let req = |limit, page| PageRequest { limit, page };
        let p = req(2, 0).apply::<u8>(vec![]);
        assert_eq!(
            (
                p._metadata.total_pages,
                p._metadata.total_items,
                p.items.len()
            ),
            (0, 0, 0)
        );
        assert!(p._links.first.is_empty() && p._links.next.is_empty());
        let p = req(2, 1).apply(vec![1, 2, 3, 4, 5]);
        assert_eq!(p.items, [3, 4]);
        assert_eq!(p._metadata.total_pages, 3);
        assert_eq!(p._links.next, "?_limit=2&_offset=2");
        assert_eq!(p._links.prev, "?_limit=2&_offset=0");
        let p = req(2, 9).apply(vec![1, 2, 3]);
        assert!(p.items.is_empty());
        assert_eq!(p._metadata.total_pages, 2);
    }
}
