//! `imgdex decide`: record, list and clear review decisions about
//! duplicate groups ("not duplicates", a chosen keeper, "reviewed", a
//! file kept in its group), which
//! every later `dupes` run (CLI, report, server) honours. The subcommands
//! build the library's [`DecideRequest`], as the HTTP API does.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use imgdex::jobs::decide::{self, DecideRequest, DecisionsReport};

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  imgdex decide not-duplicate photos/a.jpg photos/b.jpg   # never group these again
  imgdex decide keeper photos/best.jpg                    # always keep this one
  imgdex decide keep photos/b.jpg photos/c.jpg            # keep these too, never act on them
  imgdex decide unkeep photos/c.jpg                       # c.jpg may be acted on again
  imgdex decide list --json
  imgdex decide clear photos/a.jpg                        # forget decisions naming it
  imgdex decide clear                                     # forget every decision")]
pub struct DecideArgs {
    #[command(subcommand)]
    pub what: DecideCommand,
}

#[derive(Debug, Subcommand)]
pub enum DecideCommand {
    /// These images are not duplicates of each other: `dupes` never groups them together again.
    #[command(after_help = "Examples:
  imgdex decide not-duplicate a.jpg b.jpg c.jpg")]
    NotDuplicate {
        /// Two or more indexed image files.
        #[arg(required = true, num_args = 2..)]
        paths: Vec<PathBuf>,
        /// Print the decisions as JSON on stdout (for scripts) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// This image is the keeper of whatever duplicate group it is in.
    #[command(after_help = "Examples:
  imgdex decide keeper photos/best.jpg")]
    Keeper {
        /// An indexed image file.
        path: PathBuf,
        /// Print the decisions as JSON on stdout (for scripts) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The group made of these images was reviewed (shown as such; a new member makes it unreviewed).
    #[command(after_help = "Examples:
  imgdex decide reviewed a.jpg b.jpg")]
    Reviewed {
        /// Two or more indexed image files: the group's members.
        #[arg(required = true, num_args = 2..)]
        paths: Vec<PathBuf>,
        /// Print the decisions as JSON on stdout (for scripts) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Keep these images in their duplicate groups: never acted on (no plan names them), never the keeper.
    #[command(after_help = "Examples:
  imgdex decide keep photos/b.jpg photos/c.jpg")]
    Keep {
        /// One or more indexed image files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the decisions as JSON on stdout (for scripts) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Forget the keep decisions of these images: they may be acted on again.
    #[command(after_help = "Examples:
  imgdex decide unkeep photos/c.jpg")]
    Unkeep {
        /// One or more indexed image files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Print the decisions as JSON on stdout (for scripts) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List the stored decisions.
    #[command(after_help = "Examples:
  imgdex decide list
  imgdex decide list --json")]
    List {
        /// Print the decisions as JSON on stdout (for scripts) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Forget the decisions naming any of these images (every decision when none is given).
    #[command(after_help = "Examples:
  imgdex decide clear photos/a.jpg
  imgdex decide clear                      # every decision")]
    Clear {
        /// Indexed image files whose decisions to forget.
        paths: Vec<PathBuf>,
        /// Print the decisions as JSON on stdout (for scripts) instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn decide(db: &Path, a: DecideArgs, text: &mut String) -> Result<ExitCode> {
    let store = super::open(db, false)?;
    let (req, json) = match a.what {
        DecideCommand::NotDuplicate { paths, json } => {
            (Some(DecideRequest::NotDuplicate(paths)), json)
        }
        DecideCommand::Keeper { path, json } => (Some(DecideRequest::Keeper(path)), json),
        DecideCommand::Reviewed { paths, json } => (Some(DecideRequest::Reviewed(paths)), json),
        DecideCommand::Keep { paths, json } => (Some(DecideRequest::Keep(paths)), json),
        DecideCommand::Unkeep { paths, json } => (Some(DecideRequest::Unkeep(paths)), json),
        DecideCommand::Clear { paths, json } => (Some(DecideRequest::Clear(paths)), json),
        DecideCommand::List { json } => (None, json),
    };
    let report = match &req {
        Some(r) => decide::run(&store, r)?,
        None => decide::list(&store)?,
    };
    if json {
        super::print_json(text, &report)?;
    } else {
        print(text, &report, req.is_some());
    }
    Ok(ExitCode::SUCCESS)
}

fn print(text: &mut String, r: &DecisionsReport, changed: bool) {
    for d in &r.decisions {
        out!(text, "{:>6}  {:<13}  {}", d.seq, d.kind, d.paths.join("  "));
    }
    if changed {
        out!(
            text,
            "{} decisions changed, {} stored",
            r.changed,
            r.decisions.len()
        );
    } else {
        out!(text, "{} decisions stored", r.decisions.len());
    }
}
