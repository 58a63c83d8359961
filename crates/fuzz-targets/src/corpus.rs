//! Where each target's committed corpus lives, and reading it.

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Seed directories of `target`: `fuzz/corpus/<target>` (what the fuzzers found and the seed
/// frames), and for `onnx_import` also the wild-model corpus and the bundled model versions, so the
/// models under test are not copied.
pub fn seed_dirs(target: &str) -> Vec<PathBuf> {
    let root = workspace_root();
    let mut dirs = vec![root.join("fuzz/corpus").join(target)];
    if target == "onnx_import" {
        dirs.push(root.join("models/corpus"));
        dirs.push(root.join("models/versions"));
    }
    dirs
}

/// Every file in `dirs` (not recursive) but `.json` and `.md` files (model cards, corpus
/// notes), sorted by path so a seeded run is repeatable.
pub fn read_seeds(dirs: &[PathBuf]) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut files = vec![];
    for dir in dirs {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let skip = path.extension().is_some_and(|e| e == "json" || e == "md");
            if path.is_file() && !skip {
                files.push(path);
            }
        }
    }
    files.sort();
    files.into_iter().map(|p| std::fs::read(&p).map(|b| (p, b))).collect()
}
