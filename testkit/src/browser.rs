//! Where `scripts/browser.sh` put the browser tests' tools: `BROWSER_NODE_MODULES` and
//! `BROWSER_CHROMIUM` (from its `browser.env`), or the newest complete `npm-*` under
//! `BROWSER_HOME` (default `~/.cache/metal-browser`) and `chromium` on `PATH`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::peers::{find, peers_required};
use crate::wait::{Check, Wait};

/// What a page test runs: node, the chromium it drives, and the `node_modules` holding
/// playwright-core.
#[derive(Debug, Clone)]
pub struct Browser {
    /// The `node` program.
    pub node: PathBuf,
    /// Debian's chromium.
    pub chromium: PathBuf,
    /// The `node_modules` directory with playwright-core.
    pub node_modules: PathBuf,
}

impl Browser {
    /// `node SCRIPT` in `dir` with `CHROMIUM` and `BROWSER_NODE_MODULES` set, as every page
    /// test script reads them.
    pub fn script(&self, dir: &Path, script: &str) -> Command {
        let mut node = Command::new(&self.node);
        node.current_dir(dir)
            .arg(script)
            .env("CHROMIUM", &self.chromium)
            .env("BROWSER_NODE_MODULES", &self.node_modules);
        node
    }
}

/// Runs `cmd` to its end with its output captured, killing it (and failing) after `limit`.
pub fn run_bounded(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", cmd.get_program()));
    let ended = Wait::new("the page test to finish", limit)
        .every(Duration::from_millis(50))
        .blocking(|| Check::from(matches!(child.try_wait(), Ok(Some(_)))));
    if let Err(timed_out) = ended {
        let _ = child.kill();
        let out = child.wait_with_output();
        let stderr = out
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default();
        panic!("{timed_out}: {stderr}");
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cannot read the page test's output: {e}"))
}

/// The browser tools, or `None` with a loud message when one is missing (a failure under
/// `REQUIRE_PEERS=1`).
pub fn browser(test: &str) -> Option<Browser> {
    let chromium = std::env::var_os("BROWSER_CHROMIUM")
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .or_else(|| find("chromium"));
    let found = (find("node"), chromium, node_modules());
    if let (Some(node), Some(chromium), Some(node_modules)) = found {
        return Some(Browser {
            node,
            chromium,
            node_modules,
        });
    }
    let missing: Vec<&str> = [
        (found.0.is_none(), "node"),
        (found.1.is_none(), "chromium"),
        (found.2.is_none(), "playwright-core"),
    ]
    .into_iter()
    .filter_map(|(gone, what)| gone.then_some(what))
    .collect();
    let msg = format!(
        "BROWSER MISSING: {test}: {} not found (run scripts/browser.sh, or `make test`); test skipped",
        missing.join(", ")
    );
    if peers_required() {
        panic!("{msg} — but REQUIRE_PEERS=1");
    }
    eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
    None
}

fn node_modules() -> Option<PathBuf> {
    let ok = |p: &PathBuf| p.join("playwright-core/package.json").exists();
    if let Some(p) = std::env::var_os("BROWSER_NODE_MODULES").map(PathBuf::from) {
        return ok(&p).then_some(p);
    }
    let home = std::env::var_os("BROWSER_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/metal-browser")
        });
    // The most recently completed install (the key is a hash of the pins, not an order).
    std::fs::read_dir(&home)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("npm-"))
        })
        .filter_map(|p| {
            let done = std::fs::metadata(p.join(".complete"))
                .ok()?
                .modified()
                .ok()?;
            Some((done, p.join("node_modules")))
        })
        .filter(|(_, p)| ok(p))
        .max()
        .map(|(_, p)| p)
}
