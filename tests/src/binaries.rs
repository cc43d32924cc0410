//! Where the real binaries are: `E2E_BIN_DIR`, else next to the test executable
//! (`<target>/debug/deps/..`), else `$CARGO_TARGET_DIR/debug`, else `target/debug`.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// The two binaries the suite starts.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `metal-sim`.
    pub sim: PathBuf,
    /// `metal-operator`.
    pub operator: PathBuf,
}

impl Binaries {
    /// Finds both binaries, or explains how to build them.
    pub fn locate() -> anyhow::Result<Self> {
        let candidates = candidate_dirs();
        for dir in &candidates {
            let sim = dir.join("metal-sim");
            let operator = dir.join("metal-operator");
            if sim.is_file() && operator.is_file() {
                return Ok(Binaries { sim, operator });
            }
        }
        let looked: Vec<String> = candidates.iter().map(|d| d.display().to_string()).collect();
        bail!(
            "the metal-sim and metal-operator binaries were not found (looked in: {}); \
             run `cargo build --bins` (with the same CARGO_TARGET_DIR) first, or point E2E_BIN_DIR at them",
            looked.join(", ")
        )
    }
}

fn candidate_dirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os("E2E_BIN_DIR") {
        // An explicit choice is the only place looked at.
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = Vec::new();
    if let Ok(exe) = std::env::current_exe()
        && let Some(deps) = exe.parent()
        && deps.file_name().is_some_and(|n| n == "deps")
        && let Some(profile) = deps.parent()
    {
        dirs.push(profile.to_path_buf());
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(Path::new(&target).join("debug"));
    }
    dirs.push(workspace_root().join("target").join("debug"));
    dirs.dedup();
    dirs
}

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
