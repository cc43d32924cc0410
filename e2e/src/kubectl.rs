//! kubectl as a user runs it: a kubeconfig, arguments, optional stdin; bounded in time.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::AsyncWriteExt as _;

/// How long one kubectl call may take.
const LIMIT: Duration = Duration::from_secs(120);

/// Runs `kubectl args` against `kubeconfig` with `input` on stdin; returns stdout, fails with stderr.
pub async fn kubectl(
    kubeconfig: &Path,
    args: &[&str],
    input: Option<&str>,
) -> anyhow::Result<String> {
    let mut child = tokio::process::Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting kubectl (is it installed?)")?;
    let mut stdin = child.stdin.take().context("kubectl stdin")?;
    if let Some(text) = input {
        stdin.write_all(text.as_bytes()).await?;
    }
    drop(stdin);
    let out = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .with_context(|| format!("kubectl {} did not finish within {LIMIT:?}", args.join(" ")))??;
    if !out.status.success() {
        bail!(
            "kubectl {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
