//! The `envtrail` binary: maps the library's result to an exit code and nothing else.

fn main() -> std::process::ExitCode {
    envtrail::main_with_args(std::env::args_os())
}
