//! kubectl as a user runs it: a kubeconfig, arguments, optional stdin; bounded in time. The
//! answer is stdout; a failure is an error carrying kubectl's stderr.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::AsyncWriteExt as _;

/// How long one kubectl call may take unless [`Kubectl::limit`] says otherwise.
pub const LIMIT: Duration = Duration::from_secs(120);

/// kubectl bound to one kubeconfig.
#[derive(Debug, Clone)]
pub struct Kubectl {
    program: PathBuf,
    kubeconfig: PathBuf,
    limit: Duration,
}

impl Kubectl {
    /// `kubectl` from `PATH` against `kubeconfig`.
    pub fn new(kubeconfig: impl Into<PathBuf>) -> Kubectl {
        Kubectl {
            program: PathBuf::from("kubectl"),
            kubeconfig: kubeconfig.into(),
            limit: LIMIT,
        }
    }

    /// The kubectl peer ([`crate::peers::peer`]: a loud SKIP and `None` when it is missing).
    pub fn peer(kubeconfig: impl Into<PathBuf>) -> Option<Kubectl> {
        Some(Kubectl::new(kubeconfig).program(crate::peers::peer("kubectl")?))
    }

    /// Runs this kubectl program instead.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Kubectl {
        self.program = program.into();
        self
    }

    /// Bounds each call by `limit` instead of [`LIMIT`].
    pub fn limit(mut self, limit: Duration) -> Kubectl {
        self.limit = limit;
        self
    }

    /// The kubeconfig in use.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    fn describe(args: &[&str]) -> String {
        format!("kubectl {}", args.join(" "))
    }

    /// Runs kubectl with `input` on stdin, whatever its exit status; fails only when it cannot
    /// start or does not finish in time.
    pub async fn output(&self, args: &[&str], input: Option<&str>) -> anyhow::Result<Output> {
        let mut child = tokio::process::Command::new(&self.program)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            // Never the in-cluster configuration of a CI pod.
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} (is it installed?)", self.program.display()))?;
        let mut stdin = child.stdin.take().context("kubectl stdin")?;
        let input = input.map(str::to_owned);
        // Fed while its output is read: a large input (thousands of objects) would otherwise fill
        // the stdout pipe before stdin is closed, and both sides would wait for ever.
        let feed = async move {
            if let Some(text) = input {
                stdin.write_all(text.as_bytes()).await?;
            }
            drop(stdin);
            std::io::Result::Ok(())
        };
        let run = async {
            let (fed, out) = tokio::join!(feed, child.wait_with_output());
            match fed {
                // It stopped reading (it failed early): what it printed says why.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => out,
                Err(e) => Err(e),
                Ok(()) => out,
            }
        };
        tokio::time::timeout(self.limit, run)
            .await
            .with_context(|| {
                format!(
                    "{} did not finish within {:?}",
                    Self::describe(args),
                    self.limit
                )
            })?
            .with_context(|| Self::describe(args))
    }

    /// Runs kubectl with `input` on stdin; returns stdout, fails with stderr.
    pub async fn run(&self, args: &[&str], input: Option<&str>) -> anyhow::Result<String> {
        let out = self.output(args, input).await?;
        success(args, out)
    }

    /// [`Kubectl::run`] for code without a tokio runtime (or in `Drop`), without stdin.
    pub fn run_blocking(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut child = std::process::Command::new(&self.program)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {} (is it installed?)", self.program.display()))?;
        let done =
            crate::wait::Wait::new(Self::describe(args), self.limit).blocking(|| {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => crate::wait::Check::Done(()),
                    Ok(None) => crate::wait::Check::Pending("still running".into()),
                }
            });
        if let Err(e) = done {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e.into());
        }
        let out = child
            .wait_with_output()
            .with_context(|| Self::describe(args))?;
        success(args, out)
    }
}

fn success(args: &[&str], out: Output) -> anyhow::Result<String> {
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}{}",
            Kubectl::describe(args),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `kubectl args` (from `PATH`) against `kubeconfig` with `input` on stdin; returns stdout,
/// fails with stderr.
pub async fn kubectl(
    kubeconfig: &Path,
    args: &[&str],
    input: Option<&str>,
) -> anyhow::Result<String> {
    Kubectl::new(kubeconfig).run(args, input).await
}

#[cfg(test)]
mod tests {
    use super::*;

    // `sh` stands in for kubectl: what matters is the plumbing (stdin, KUBECONFIG, errors).
    #[tokio::test]
    async fn a_large_input_echoed_back_does_not_deadlock() {
        // 4 MiB through `cat`: far more than a pipe holds, so stdin must be fed while stdout is
        // read (kubectl answers each of thousands of objects created from stdin).
        let text = "x".repeat(4 << 20);
        let k = Kubectl::new("/tmp/k")
            .program("cat")
            .limit(Duration::from_secs(30));
        let out = k.run(&[], Some(&text)).await.unwrap();
        assert_eq!(out.len(), text.len());
        // A program that stops reading early still reports its own failure.
        let k = Kubectl::new("/tmp/k").program("sh");
        let err = k
            .run(&["-c", "echo early >&2; exit 4"], Some(&text))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("early"), "{err}");
    }

    #[tokio::test]
    async fn stdout_is_the_answer_and_stderr_is_the_error() {
        let k = Kubectl::new("/tmp/some-kubeconfig").program("sh");
        let out = k
            .run(&["-c", "cat; printf ' %s' \"$KUBECONFIG\""], Some("in"))
            .await
            .unwrap();
        assert_eq!(out, "in /tmp/some-kubeconfig");
        let err = k
            .run(&["-c", "echo refused >&2; exit 3"], None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("refused") && err.contains("exit status: 3"),
            "{err}"
        );
        let err = k
            .clone()
            .limit(Duration::from_millis(100))
            .run_blocking(&["-c", "sleep 5"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("timed out"), "{err}");
        assert_eq!(k.run_blocking(&["-c", "echo ok"]).unwrap(), "ok\n");
    }
}
