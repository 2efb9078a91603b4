//! Library errors in the CLI's words. The library names settings
//! (`max_histogram`, `yes`, "embedding is off"), never flags, so that the
//! HTTP API can show its messages as they are; here each such error is
//! worded as the flag a CLI user passes (`--max-histogram`, `--yes`,
//! `--no-embed`). `main` applies it to every error in a failure's chain.

use imgdex::jobs::classify::EMBED_UNINDEXED;
use imgdex::jobs::query::QUERY_BY_EMBEDDING;
use imgdex::Error;

/// The CLI's text for `err`, when it differs from the library's.
pub fn cli_text(err: &Error) -> Option<String> {
    Some(match err {
        Error::InvalidSetting { setting, reason } => {
            format!("--{} {reason}", setting.replace('_', "-"))
        }
        Error::NeedsConfirmation { action } => {
            format!("`{action}` cannot be undone; confirm it with --yes (yes: true)")
        }
        Error::NoModel { task } if *task == QUERY_BY_EMBEDDING => {
            "--by embedding needs the CNN model; drop --no-embed".into()
        }
        Error::NoModel { task } if *task == EMBED_UNINDEXED => {
            "some images are not indexed and --no-embed was given; \
             their embeddings need the CNN model"
                .into()
        }
        Error::NoModel { task } => format!("{task} needs the CNN model; drop --no-embed"),
        Error::NoEmbeddings => {
            "the store has no embeddings; run `imgdex index` without --no-embed".into()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library's text names no flag; the CLI's names the flag.
    #[test]
    fn library_text_has_no_flags_and_cli_text_names_them() {
        let cases = [
            (
                Error::InvalidSetting {
                    setting: "ort_sessions",
                    reason: "must be at most 64, got 99".into(),
                },
                "--ort-sessions",
            ),
            (Error::NeedsConfirmation { action: "delete" }, "--yes"),
            (
                Error::NoModel {
                    task: QUERY_BY_EMBEDDING,
                },
                "--no-embed",
            ),
            (Error::NoEmbeddings, "--no-embed"),
        ];
        for (err, flag) in cases {
            assert!(!err.to_string().contains("--"), "{err}");
            let cli = cli_text(&err).unwrap();
            assert!(cli.contains(flag), "{cli}");
        }
    }
}
