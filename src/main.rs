//! The `imgdex` command-line tool: parses arguments (`cli::args`), turns
//! them into validated library configs and runs the matching job
//! (`cli::run`). Exit codes: 0 success, 1 some files failed, 2 usage or
//! store error.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::args::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("imgdex: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
