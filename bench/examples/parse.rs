//! Times one parse of a snapshot file in a fresh process, either the derived `Deserialize`
//! (`derive`, then `Snapshot::validate`) or the file collector's parse (`parallel`: the arrays
//! on the rayon pool, then validated), as `envtrail import` does. One parse per process, because
//! most of a parse's cost is the first touch of fresh memory: a second parse in the same
//! process reuses the allocator's pages and looks twice as fast.
//!
//! ```text
//! cargo build --release -p envtrail-bench --example parse
//! for i in 1 2 3; do for m in derive parallel; do target/release/examples/parse $m /tmp/fleet/prod.json; done; done
//! ```

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
/// CPU time of this process (user + system, all threads), in seconds.
fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}
fn main() {
    let mode = std::env::args().nth(1).unwrap();
    let file = std::env::args().nth(2).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let (t, c) = (Instant::now(), cpu());
    if mode == "derive" {
        let s: envtrail_model::Snapshot = serde_json::from_slice(&bytes).unwrap();
        s.validate().unwrap();
        std::mem::forget(s);
    } else {
        let s = envtrail_collect_file::parse_snapshot("x", &bytes).unwrap();
        std::mem::forget(s);
    }
    eprintln!("{mode}: {:.2?} wall, {:.2} s cpu", t.elapsed(), cpu() - c);
}
