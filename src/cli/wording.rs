//! Library errors in the CLI's words. The library names settings
//! (`max_histogram`, `yes`, "embedding is off"), never flags, so that the
//! HTTP API can show its messages as they are; here each such error is
//! worded as the flag a CLI user passes (`--max-histogram`, `--yes`,
//! `--no-embed`). `main` applies it to every error in a failure's chain.

use imgdex::features::embedding::MODEL_CHOICES;
use imgdex::jobs::classify::EMBED_UNINDEXED;
use imgdex::jobs::query::QUERY_BY_EMBEDDING;
use imgdex::Error;

/// The CLI's text for `err`, when it differs from the library's.
pub fn cli_text(err: &Error) -> Option<String> {
    Some(match err {
        Error::InvalidSetting { setting, reason } => {
            format!("{} {}", flag(setting), flags_in(reason))
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
        Error::Model { .. } if err.to_string().contains(MODEL_CHOICES) => err
            .to_string()
            .replace(MODEL_CHOICES, "pass --model, or use --no-embed"),
        Error::NoStore { .. } => format!("{err}, or pass --db to open another store"),
        Error::NoEmbeddings => {
            "the store has no embeddings; run `imgdex index` without --no-embed".into()
        }
        _ => return None,
    })
}

/// The flag of a setting the library names (`max_histogram`).
fn flag(setting: &str) -> String {
    format!("--{}", setting.replace('_', "-"))
}

/// `text` with each setting it names in backticks worded as its flag.
fn flags_in(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| match i % 2 {
            1 if part.chars().all(|c| c.is_ascii_lowercase() || c == '_') => flag(part),
            1 => format!("`{part}`"),
            _ => part.to_string(),
        })
        .collect()
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
            (Error::NoStore { path: "/x".into() }, "--db"),
            (
                Error::InvalidSetting {
                    setting: "plot",
                    reason: "needs `k_range`, not `k`".into(),
                },
                "--plot needs --k-range, not --k",
            ),
            (
                Error::Model {
                    path: "m.onnx".into(),
                    reason: format!("model file not found; {MODEL_CHOICES}"),
                },
                "--model",
            ),
        ];
        for (err, flag) in cases {
            assert!(!err.to_string().contains("--"), "{err}");
            let cli = cli_text(&err).unwrap();
            assert!(cli.contains(flag), "{cli}");
        }
    }
}
