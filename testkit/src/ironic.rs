//! Real OpenStack Ironic for tests: standalone (API and conductor in one process, `rpc_transport
//! = none`), SQLite, noauth, everything on 127.0.0.1 and under a temp dir. [`IronicConfig`] says
//! which hardware types and interfaces a test enables, whether cleaning runs and whether Ironic
//! boots agents over iPXE; [`Ironic::start`] writes `ironic.conf`, creates the schema
//! (`ironic-dbsync`), starts `ironic` in its own process group, waits until `GET /v1` answers,
//! and kills the group on drop. Its log's tail is printed when the test panics.
//!
//! The peers come from [`crate::peers`]: a missing one is a loud SKIP (`Ok(None)`), or a failure
//! under `REQUIRE_PEERS=1`. `IRONIC_LOG_COPY=<path>` keeps a copy of Ironic's log.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::peers::{find, peer};
use crate::wait::{Check, Wait};

/// How long Ironic gets to create its schema, and then to answer, unless
/// [`IronicConfig::startup`] says otherwise.
pub const STARTUP: Duration = Duration::from_secs(60);

/// How long a stopping Ironic gets after SIGTERM before SIGKILL.
const STOP: Duration = Duration::from_secs(10);

/// The tools Ironic may build a config drive ISO with; one of them is needed when
/// [`IronicConfig::config_drives`] is set.
pub const ISO_TOOLS: [&str; 3] = ["genisoimage", "mkisofs", "xorrisofs"];

/// What a test's Ironic enables. Lines common to every test's Ironic (noauth, SQLite, no DHCP,
/// noop networking, loopback endpoints, debug logging to `ironic.log`) are always written.
#[derive(Debug, Clone)]
pub struct IronicConfig {
    host: String,
    defaults: Vec<(String, String)>,
    automated_clean: bool,
    ipxe: bool,
    extra: String,
    peers: Vec<&'static str>,
    config_drives: bool,
    startup: Duration,
}

impl IronicConfig {
    /// A config whose conductor calls itself `host`; nothing enabled yet (add
    /// [`IronicConfig::enable`] lines), automated cleaning off.
    pub fn new(host: &str) -> IronicConfig {
        IronicConfig {
            host: host.to_owned(),
            defaults: Vec::new(),
            automated_clean: false,
            ipxe: false,
            extra: String::new(),
            peers: Vec::new(),
            config_drives: false,
            startup: STARTUP,
        }
    }

    /// `[DEFAULT] enabled_{what} = {list}`, e.g. `enable("hardware_types", "redfish,ipmi")` or
    /// `enable("boot_interfaces", "ipxe,fake")`.
    pub fn enable(mut self, what: &str, list: &str) -> IronicConfig {
        self.defaults
            .push((format!("enabled_{what}"), list.to_owned()));
        self
    }

    /// `[conductor] automated_clean`.
    pub fn automated_clean(mut self, on: bool) -> IronicConfig {
        self.automated_clean = on;
        self
    }

    /// Settings for deployments through an agent: `[pxe]` roots under the temp dir (with `ipxe`
    /// boot Ironic sets a one-time PXE boot before every ramdisk boot), and short agent and IPMI
    /// poll intervals.
    pub fn ipxe(mut self) -> IronicConfig {
        self.ipxe = true;
        self
    }

    /// Further config text, appended last (oslo.config merges repeated sections). `{dir}` and
    /// `{port}` in it become Ironic's directory and API port.
    pub fn extra(mut self, text: &str) -> IronicConfig {
        self.extra.push_str(text);
        if !self.extra.ends_with('\n') {
            self.extra.push('\n');
        }
        self
    }

    /// A further peer program Ironic needs (e.g. `ipmitool` for the ipmi hardware type).
    pub fn needs(mut self, program: &'static str) -> IronicConfig {
        self.peers.push(program);
        self
    }

    /// Ironic builds config drives (meta_data, user_data) into ISOs: one of [`ISO_TOOLS`] is
    /// needed.
    pub fn config_drives(mut self) -> IronicConfig {
        self.config_drives = true;
        self
    }

    /// Bounds the schema creation, and then the wait for the API, by `limit` each.
    pub fn startup(mut self, limit: Duration) -> IronicConfig {
        self.startup = limit;
        self
    }

    /// The `ironic.conf` text for an Ironic in `dir` answering on 127.0.0.1:`port`.
    pub fn render(&self, dir: &Path, port: u16) -> String {
        let d = dir.display();
        let mut s = format!(
            "[DEFAULT]\nauth_strategy=noauth\nrpc_transport=none\nmy_ip=127.0.0.1\nhost={}\n\
log_file={d}/ironic.log\ndebug=true\n\
default_network_interface=noop\nenabled_network_interfaces=noop\n",
            self.host
        );
        for (key, value) in &self.defaults {
            s.push_str(&format!("{key}={value}\n"));
        }
        s.push_str(&format!(
            "[api]\nhost_ip=127.0.0.1\nport={port}\napi_workers=1\n\
[database]\nconnection=sqlite:///{d}/ironic.db\n\
[dhcp]\ndhcp_provider=none\n\
[deploy]\nhttp_root={d}/http\nhttp_url=http://127.0.0.1:{port}/\nfast_track=false\n\
[agent]\nrequire_tls=false\ndeploy_logs_collect=never\n\
[conductor]\nautomated_clean={}\n\
[service_catalog]\nauth_type=none\nendpoint_override=http://127.0.0.1:{port}\n\
[oslo_concurrency]\nlock_path={d}/locks\n",
            self.automated_clean
        ));
        if self.ipxe {
            s.push_str(&format!(
                "[pxe]\ntftp_root={d}/tftp\ntftp_master_path={d}/tftp/master\nimages_path={d}/images\n\
instance_master_path={d}/master_images\ntftp_server=127.0.0.1\n\
[agent]\npost_deploy_get_power_state_retry_interval=1\ncommand_wait_interval=1\n\
[ipmi]\nmin_command_interval=1\n"
            ));
        }
        s.push_str(
            &self
                .extra
                .replace("{dir}", &d.to_string())
                .replace("{port}", &port.to_string()),
        );
        s
    }

    /// The peers this config needs, or `None` after the loud SKIP of the first one missing.
    fn programs(&self) -> Option<(PathBuf, PathBuf)> {
        let ironic = peer("ironic")?;
        let dbsync = peer("ironic-dbsync")?;
        for program in &self.peers {
            peer(program)?;
        }
        if self.config_drives {
            ISO_TOOLS
                .into_iter()
                .find_map(find)
                .or_else(|| peer(ISO_TOOLS[0]))?;
        }
        Some((ironic, dbsync))
    }
}

/// A command for a peer with every proxy variable removed: all its traffic stays on loopback.
fn loopback_command(program: &Path) -> Command {
    let mut c = Command::new(program);
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        c.env_remove(var);
    }
    c.env("no_proxy", "127.0.0.1,localhost")
        .env("NO_PROXY", "127.0.0.1,localhost");
    c
}

/// Waits (bounded) for `child` to exit; kills it when it does not.
fn wait_exit(
    child: &mut Child,
    what: &str,
    limit: Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    let waited = Wait::new(what, limit)
        .every(Duration::from_millis(100))
        .blocking(|| match child.try_wait() {
            Ok(Some(status)) => Check::Done(Ok(status)),
            Ok(None) => Check::Pending("still running".into()),
            Err(e) => Check::Done(Err(e)),
        });
    match waited {
        Ok(status) => Ok(status?),
        Err(timed_out) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(timed_out.into())
        }
    }
}

/// A running real Ironic; its process group is stopped on drop.
pub struct Ironic {
    child: Child,
    port: u16,
    url: String,
    dir: tempfile::TempDir,
}

impl Ironic {
    /// Starts Ironic as `config` says (blocking: from async code, call it in
    /// `tokio::task::spawn_blocking`). `Ok(None)` after the loud SKIP when a peer is missing.
    pub fn start(config: &IronicConfig) -> anyhow::Result<Option<Ironic>> {
        let Some((ironic, dbsync)) = config.programs() else {
            return Ok(None);
        };
        let dir = tempfile::Builder::new()
            .prefix("metal-real-ironic-")
            .tempdir()
            .context("creating real Ironic's directory")?;
        for sub in ["http", "locks", "tftp/master", "images", "master_images"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .with_context(|| format!("creating {sub}"))?;
        }
        let port = crate::ports::free_port();
        let conf = dir.path().join("ironic.conf");
        std::fs::write(&conf, config.render(dir.path(), port)).context("writing ironic.conf")?;

        let sync_err = dir.path().join("ironic-dbsync.err");
        let mut sync = loopback_command(&dbsync)
            .arg("--config-file")
            .arg(&conf)
            .arg("create_schema")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&sync_err).context("creating dbsync's log")?)
            .spawn()
            .context("starting ironic-dbsync")?;
        let status = wait_exit(&mut sync, "ironic-dbsync create_schema", config.startup)?;
        if !status.success() {
            bail!(
                "ironic-dbsync create_schema failed ({status}): {}",
                std::fs::read_to_string(&sync_err).unwrap_or_default()
            );
        }

        // stdout and stderr (tracebacks before logging is set up) go beside the log.
        let out = std::fs::File::create(dir.path().join("ironic.out"))
            .context("creating Ironic's output file")?;
        let child = loopback_command(&ironic)
            .arg("--config-file")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(out.try_clone().context("Ironic's output file")?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .context("starting ironic")?;
        let mut me = Ironic {
            child,
            port,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        me.wait_ready(config.startup)?;
        Ok(Some(me))
    }

    /// Waits until `GET /v1` answers 2xx; fails at once, with the log, if Ironic exits.
    fn wait_ready(&mut self, limit: Duration) -> anyhow::Result<()> {
        let port = self.port;
        let child = &mut self.child;
        let dir = self.dir.path();
        let mut exited = None;
        let ready = Wait::new(
            format!("real Ironic to answer GET /v1 on port {port}"),
            limit,
        )
        .every(Duration::from_millis(200))
        .blocking(|| {
            if let Ok(Some(status)) = child.try_wait() {
                exited = Some(status);
                return Check::Done(());
            }
            match get_status(port, "/v1") {
                Ok(code) if (200..300).contains(&code) => Check::Done(()),
                Ok(code) => Check::Pending(format!("GET /v1: {code}")),
                Err(e) => Check::Pending(format!("GET /v1: {e}")),
            }
        });
        if let Some(status) = exited {
            bail!(
                "real Ironic exited ({status}); its output:\n{}\nits log ends with:\n{}",
                tail(
                    &std::fs::read_to_string(dir.join("ironic.out")).unwrap_or_default(),
                    20
                ),
                self.log_tail(20)
            );
        }
        ready.map_err(|e| anyhow::anyhow!("{e}; its log ends with:\n{}", self.log_tail(20)))
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The API port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Ironic's directory (config, database, log, PXE and HTTP roots).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` INFO/WARNING/ERROR lines of Ironic's log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("ironic.log")).unwrap_or_default();
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(" ERROR ") || l.contains(" WARNING ") || l.contains(" INFO "))
            .collect();
        kept[kept.len().saturating_sub(lines)..].join("\n")
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Ironic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- tail of real Ironic's log\n{}", self.log_tail(60));
        }
        if let Ok(keep) = std::env::var("IRONIC_LOG_COPY") {
            let _ = std::fs::copy(self.dir.path().join("ironic.log"), keep);
        }
        // The API and the conductor (and their workers) are one process group: stop all of it.
        self.signal("-TERM");
        let child = &mut self.child;
        let stopped = Wait::new("real Ironic to stop", STOP)
            .every(Duration::from_millis(100))
            .blocking(|| Check::from(matches!(child.try_wait(), Ok(Some(_)))));
        // SIGKILL too, for workers that outlive the parent.
        self.signal("-KILL");
        if stopped.is_err() {
            let _ = self.child.wait();
        }
    }
}

/// The status code of a plain `GET path` on 127.0.0.1:`port`.
fn get_status(port: u16, path: &str) -> std::io::Result<u16> {
    let timeout = Duration::from_secs(5);
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    // One write: `write!` on a bare socket sends each formatted piece on its own, and a server
    // that answers after the first piece and closes turns the next one into a broken pipe.
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes())?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut head[n..])? {
            0 => break,
            m => n += m,
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {line:?}")))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_keeps_everything_on_loopback_under_the_directory() {
        let text = IronicConfig::new("judge")
            .enable("hardware_types", "redfish,ipmi")
            .automated_clean(true)
            .ipxe()
            .extra("[inspector]\nhooks=$default_hooks,memory\n[x]\nroot={dir}/r\nport={port}")
            .render(Path::new("/tmp/i"), 21000);
        for line in [
            "host=judge",
            "enabled_hardware_types=redfish,ipmi",
            "host_ip=127.0.0.1\nport=21000",
            "connection=sqlite:////tmp/i/ironic.db",
            "automated_clean=true",
            "tftp_root=/tmp/i/tftp",
            "hooks=$default_hooks,memory",
            "root=/tmp/i/r\nport=21000\n",
            "endpoint_override=http://127.0.0.1:21000",
        ] {
            assert!(text.contains(line), "{line:?} not in\n{text}");
        }
        assert!(
            !IronicConfig::new("h")
                .render(Path::new("/d"), 1)
                .contains("[pxe]")
        );
    }

    #[test]
    fn a_status_line_is_read_from_a_loopback_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut c, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            let _ = c.read(&mut buf).unwrap();
            c.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").unwrap();
        });
        assert_eq!(get_status(port, "/v1").unwrap(), 204);
        server.join().unwrap();
    }
}
