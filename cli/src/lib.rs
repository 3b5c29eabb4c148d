//! The `envtrail` command line: parses arguments, loads the config, opens the store, asks the
//! store and the diff engine, renders the answer and chooses the exit code. It glues the library
//! crates together and holds no domain logic of its own.

pub mod args;
pub mod collect;
pub mod commands;
pub mod config;
pub mod demo;
pub mod evidence;
pub mod exit_codes;
pub mod merge_back;
pub mod notify;
pub mod progress;
pub mod render;
pub mod timearg;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// What a command asks the process to exit with, besides errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 2: findings at or above `--fail-on`.
    FindingsAtOrAboveThreshold,
    /// Exit 3: `collect` stored a snapshot in which a source failed or was read only in part.
    SnapshotIncomplete,
}

/// Runs envtrail with these arguments (the first is the program name) and returns the exit code.
pub fn main_with_args(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match args::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                exit_codes::ERROR
            } else {
                exit_codes::SUCCESS
            });
        }
    };
    match commands::run(&cli) {
        Ok(Outcome::Success) => ExitCode::from(exit_codes::SUCCESS),
        Ok(Outcome::SnapshotIncomplete) => ExitCode::from(exit_codes::SNAPSHOT_INCOMPLETE),
        Ok(Outcome::FindingsAtOrAboveThreshold) => {
            ExitCode::from(exit_codes::FINDINGS_AT_OR_ABOVE_THRESHOLD)
        }
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {err}");
            for cause in err.chain().skip(1) {
                let _ = writeln!(stderr, "  caused by: {cause}");
            }
            if let Some(hint) = commands::hint_for(&err) {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            ExitCode::from(exit_codes::ERROR)
        }
    }
}
