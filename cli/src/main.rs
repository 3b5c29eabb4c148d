//! The `envtrail` binary: maps the library's result to an exit code and nothing else.

/// mimalloc instead of glibc malloc: an import or report allocates and frees millions of small
/// strings, and glibc's free-list consolidation alone took ~20% of an import's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    envtrail::main_with_args(std::env::args_os())
}
