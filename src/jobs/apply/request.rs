//! What a client asks `apply` for, before it is checked: the action, the
//! keep policy and the confirmation, as the CLI's flags (`dupes --apply`,
//! `src/cli/apply.rs`) and the HTTP API's body (`POST /api/dupes/apply`)
//! give them. Both fill an [`ApplyRequest`] and call
//! [`ApplyRequest::config`], the one place that defaults and validates it
//! into an [`ApplyConfig`]. Errors name the setting, never a flag.

use std::path::PathBuf;

use super::{Action, ApplyConfig, KeepPolicy};
use crate::error::Result;

/// An `apply` request: `keep` defaults to [`KeepPolicy::Keeper`].
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    pub action: Action,
    pub keep: Option<KeepPolicy>,
    pub dry_run: bool,
    /// Confirmation for `delete`.
    pub yes: bool,
    pub journal: Option<PathBuf>,
    /// Reference folders, canonical (as `DupesConfig::reference` holds them).
    pub reference: Vec<PathBuf>,
}

impl ApplyRequest {
    /// A request for `action` with every other setting at its default.
    pub fn new(action: Action) -> ApplyRequest {
        ApplyRequest {
            action,
            keep: None,
            dry_run: false,
            yes: false,
            journal: None,
            reference: Vec::new(),
        }
    }

    /// The checked configuration (a delete needs `yes` unless it is a dry
    /// run; a given journal must not exist yet).
    pub fn config(&self) -> Result<ApplyConfig> {
        let cfg = ApplyConfig {
            action: self.action.clone(),
            keep: self.keep.unwrap_or(KeepPolicy::Keeper),
            dry_run: self.dry_run,
            yes: self.yes,
            journal: self.journal.clone(),
            reference: self.reference.clone(),
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn delete_needs_confirmation_named_without_a_flag() {
        let err = ApplyRequest::new(Action::Delete).config().unwrap_err();
        assert!(matches!(err, Error::NeedsConfirmation { .. }), "{err:?}");
        assert!(!err.to_string().contains("--"), "{err}");
        let dry = ApplyRequest {
            dry_run: true,
            ..ApplyRequest::new(Action::Delete)
        };
        assert_eq!(dry.config().unwrap().keep, KeepPolicy::Keeper);
    }
}
