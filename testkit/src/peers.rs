//! Peer discovery. The venv is the one `scripts/peers.sh` installs (`PEERS_VENV`, set from its
//! `peers.env`, or the newest complete `venv-*` under `PEERS_HOME`, default
//! `~/.cache/metal-peers`).

use std::path::PathBuf;

/// True when CI demands every peer (`REQUIRE_PEERS=1`): a missing peer fails instead of skipping.
pub fn peers_required() -> bool {
    std::env::var("REQUIRE_PEERS").is_ok_and(|v| v == "1")
}

/// Finds a peer program: first in the pinned venv (`PEERS_VENV`, set from `scripts/peers.sh`'s
/// `peers.env` or found in its default cache), then on `PATH`. When it is missing the test is
/// skipped with a loud message, or fails under `REQUIRE_PEERS=1`.
pub fn peer(program: &str) -> Option<PathBuf> {
    if let Some(p) = find(program) {
        return Some(p);
    }
    let msg = format!(
        "PEER MISSING: `{program}` not found (run scripts/peers.sh, or `make peers`); test skipped"
    );
    if peers_required() {
        panic!("{msg} — but REQUIRE_PEERS=1");
    }
    eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
    None
}

/// The pinned venv's directory, if installed.
pub fn venv() -> Option<PathBuf> {
    if let Ok(v) = std::env::var("PEERS_VENV") {
        let p = PathBuf::from(v);
        if p.join("bin/python").exists() {
            return Some(p);
        }
    }
    let home = std::env::var("PEERS_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/metal-peers")
        });
    let mut found: Vec<PathBuf> = std::fs::read_dir(&home)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("venv-"))
                && p.join(".complete").exists()
        })
        .collect();
    found.sort();
    found.pop()
}

/// The Redfish CSDL schema directory for the DMTF validator, if installed.
pub fn csdl_dir() -> Option<PathBuf> {
    if let Ok(v) = std::env::var("PEERS_CSDL") {
        return Some(PathBuf::from(v));
    }
    let home = std::env::var("PEERS_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/metal-peers")
        });
    let d = home.join("redfish-csdl");
    d.join(".complete").exists().then_some(d)
}

/// Where a peer program is (the venv, then `PATH`), quietly: for choosing among alternatives
/// before [`peer`] reports the one that is required.
pub fn find(program: &str) -> Option<PathBuf> {
    if let Some(v) = venv() {
        let p = v.join("bin").join(program);
        if p.exists() {
            return Some(p);
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
