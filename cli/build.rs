//! Compiles the example snapshots in `snapshots/` into the binary for `envtrail demo`.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let dir = manifest.join("../snapshots");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut code = String::from("/// The bundled example snapshots: (file name, contents).\n");
    code.push_str("pub const SNAPSHOTS: &[(&str, &str)] = &[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let name = file.file_name().expect("a file").to_string_lossy();
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let config = dir.join("demo.toml");
    println!("cargo:rerun-if-changed={}", config.display());
    if config.exists() {
        writeln!(
            code,
            "/// The demo's config.\npub const CONFIG: &str = include_str!({:?});",
            config.display().to_string()
        )
        .unwrap();
    } else {
        code.push_str("/// The demo's config.\npub const CONFIG: &str = \"\";\n");
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("demo_data.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
