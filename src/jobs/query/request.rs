//! What a client asks `query` for, before it is checked: how many
//! neighbours and by which feature, as the CLI's flags (`src/cli/query.rs`)
//! and the HTTP API's query string (`GET /api/query`, `POST /api/query`)
//! give them. Both fill a [`QueryRequest`] and call
//! [`QueryRequest::settings`], the one place that defaults and checks them.
//! Errors name the setting (`Error::InvalidSetting`), never a flag.

use std::str::FromStr;

use super::QueryBy;
use crate::error::{Error, Result};

/// Neighbours listed when a request does not say.
pub const DEFAULT_K: usize = 10;

/// A `query` request: each `None` takes the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryRequest {
    pub k: Option<usize>,
    pub by: Option<QueryBy>,
    /// Most neighbours a request may ask for (none: no limit). The HTTP
    /// API caps it, the CLI does not.
    pub max_k: Option<usize>,
}

/// A checked request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuerySettings {
    pub k: usize,
    pub by: QueryBy,
}

impl QueryRequest {
    /// The defaults filled in and `k` checked: at least 1, at most `max_k`.
    pub fn settings(&self) -> Result<QuerySettings> {
        let k = self.k.unwrap_or(DEFAULT_K);
        match self.max_k {
            Some(max) if !(1..=max).contains(&k) => return Err(bad_k(&k.to_string(), max)),
            None => check_k(k)?,
            Some(_) => {}
        }
        Ok(QuerySettings {
            k,
            by: self.by.unwrap_or(QueryBy::Auto),
        })
    }

    /// `k` given as text (a query string): a whole number in `1..=max`.
    pub fn parse_k(text: &str, max: usize) -> Result<usize> {
        match text.parse() {
            Ok(k) if (1..=max).contains(&k) => Ok(k),
            _ => Err(bad_k(text, max)),
        }
    }
}

/// `k` is at least 1 (what [`super::run`] also checks).
pub(super) fn check_k(k: usize) -> Result<()> {
    if k == 0 {
        return Err(Error::InvalidSetting {
            setting: "k",
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}

fn bad_k(text: &str, max: usize) -> Error {
    Error::InvalidSetting {
        setting: "k",
        reason: format!("must be a whole number between 1 and {max}, got `{text}`"),
    }
}

impl FromStr for QueryBy {
    type Err = Error;

    fn from_str(s: &str) -> Result<QueryBy> {
        match s {
            "auto" => Ok(QueryBy::Auto),
            "embedding" => Ok(QueryBy::Embedding),
            "hash" => Ok(QueryBy::Hash),
            "histogram" => Ok(QueryBy::Histogram),
            other => Err(Error::InvalidSetting {
                setting: "by",
                reason: format!("must be auto, embedding, hash or histogram, got `{other}`"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_k_range_by_name() {
        let s = QueryRequest::default().settings().unwrap();
        assert_eq!((s.k, s.by), (DEFAULT_K, QueryBy::Auto));
        let capped = QueryRequest {
            k: Some(0),
            max_k: Some(1000),
            ..QueryRequest::default()
        };
        let err = capped.settings().unwrap_err();
        assert!(
            matches!(err, Error::InvalidSetting { setting: "k", .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("--"), "{err}");
        assert!(QueryRequest::parse_k("ten", 1000).is_err());
        let zero = QueryRequest {
            k: Some(0),
            ..QueryRequest::default()
        };
        assert_eq!(
            zero.settings().unwrap_err().to_string(),
            "k must be at least 1"
        );
        assert_eq!("histogram".parse::<QueryBy>().unwrap(), QueryBy::Histogram);
        assert!("colour".parse::<QueryBy>().is_err());
    }
}
