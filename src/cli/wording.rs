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
            format!("`{action}` cannot be undone; confirm it with --yes")
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
        Error::Model { reason, .. } if reason.contains(MODEL_CHOICES) => cli_note(&err.to_string()),
        Error::NoStore { .. } => format!("{err}, or pass --db to open another store"),
        Error::JournalOfOtherStore { db, .. } => format!("{err} (pass --db {db})"),
        Error::NoFeatures { path, feature, .. } if *feature == "embedding" => format!(
            "store {} has no embedding features; run `imgdex index` without --no-embed first",
            path.display()
        ),
        Error::NoEmbeddings => {
            "the store has no embeddings; run `imgdex index` without --no-embed".into()
        }
        _ => return None,
    })
}

/// A library note (the server's, on why uploads are not embedded) in the
/// CLI's words.
pub fn cli_note(note: &str) -> String {
    note.replace(MODEL_CHOICES, "pass --model, or use --no-embed")
        .replace("(embedding is off)", "(--no-embed)")
}

/// The flag of a setting the library names (`max_histogram`).
fn flag(setting: &str) -> String {
    format!("--{}", setting.replace('_', "-"))
}

/// `text` with each setting it names in backticks worded as its flag
/// (only names that are flags of the CLI: a value in backticks stays).
fn flags_in(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| match i % 2 {
            1 if is_flag(part) => flag(part),
            1 => format!("`{part}`"),
            _ => part.to_string(),
        })
        .collect()
}

/// Whether some command of the CLI has the long flag of setting `name`.
fn is_flag(name: &str) -> bool {
    use clap::CommandFactory;
    use std::collections::HashSet;
    use std::sync::OnceLock;
    static FLAGS: OnceLock<HashSet<String>> = OnceLock::new();
    fn collect(cmd: &clap::Command, out: &mut HashSet<String>) {
        out.extend(
            cmd.get_arguments()
                .filter_map(|a| a.get_long().map(str::to_string)),
        );
        cmd.get_subcommands().for_each(|s| collect(s, out));
    }
    let flags = FLAGS.get_or_init(|| {
        let mut out = HashSet::new();
        collect(&super::args::Args::command(), &mut out);
        out
    });
    flags.contains(&name.replace('_', "-"))
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
                    reason: "needs `k_range`, not `k`; got `sprites`".into(),
                },
                "--plot needs --k-range, not --k; got `sprites`",
            ),
            (
                Error::JournalOfOtherStore {
                    path: "j.jsonl".into(),
                    db: "/a".into(),
                    here: "/b".into(),
                },
                "--db /a",
            ),
            (
                Error::NoFeatures {
                    path: "/s".into(),
                    feature: "embedding",
                    hint: "; index it with embedding on first".into(),
                },
                "--no-embed",
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
