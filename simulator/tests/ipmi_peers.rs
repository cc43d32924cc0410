//! The real IPMI clients judge our fake BMC: ipmitool lanplus (cipher suites 3 and 17), freeipmi's
//! ipmipower, and pyghmi's client. Every command's effect is checked against the machine.

mod ipmi_fixture;
mod support;

use std::path::Path;
use std::process::Output;

use ipmi_fixture::Bmcs;
use metal_sim::machine::{BootMode, BootSource, OverrideMode, PowerState};

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs a peer program with a hard time limit so a hung peer cannot hang the suite.
async fn run(program: &Path, args: &[String]) -> Output {
    let mut cmd = tokio::process::Command::new("timeout");
    cmd.arg("20").arg(program).args(args).kill_on_drop(true);
    cmd.output().await.expect("peer program runs")
}

struct IpmiTool<'a> {
    bin: &'a Path,
    port: u16,
}

impl IpmiTool<'_> {
    async fn call(&self, suite: u8, password: &str, args: &str) -> Output {
        let mut a: Vec<String> = [
            "-I",
            "lanplus",
            "-H",
            "127.0.0.1",
            "-U",
            "admin",
            "-N",
            "1",
            "-R",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend([
            "-p".into(),
            self.port.to_string(),
            "-P".into(),
            password.into(),
            "-C".into(),
            suite.to_string(),
        ]);
        a.extend(args.split_whitespace().map(str::to_string));
        run(self.bin, &a).await
    }
}

/// One row of the printed matrix.
struct Row {
    command: &'static str,
    results: Vec<(u8, Result<(), String>)>,
}

fn check(out: &Output, expect: &[&str]) -> Result<(), String> {
    let t = text(out);
    if !out.status.success() {
        return Err(format!("exit {:?}: {t}", out.status.code()));
    }
    match expect.iter().find(|e| !t.contains(**e)) {
        Some(missing) => Err(format!("missing {missing:?} in: {t}")),
        None => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmitool_lanplus_with_suites_3_and_17_drives_the_machine() {
    let Some(bin) = support::peer("ipmitool") else {
        return;
    };
    let b = Bmcs::start(2).await;
    let mut rows: Vec<Row> = Vec::new();
    let mut record = |command: &'static str, suite: u8, r: Result<(), String>| match rows
        .iter_mut()
        .find(|r| r.command == command)
    {
        Some(row) => row.results.push((suite, r)),
        None => rows.push(Row {
            command,
            results: vec![(suite, r)],
        }),
    };
    for (host, suite) in [(0usize, 3u8), (1usize, 17u8)] {
        let t = IpmiTool {
            bin: &bin,
            port: b.addrs[host].port(),
        };
        let on = |v: &metal_sim::machine::MachineView| v.power == PowerState::On;
        let off = |v: &metal_sim::machine::MachineView| v.power == PowerState::Off;

        record(
            "power status (off)",
            suite,
            check(
                &t.call(suite, "password", "power status").await,
                &["Chassis Power is off"],
            ),
        );
        let r = check(
            &t.call(suite, "password", "power on").await,
            &["Chassis Power Control: Up/On"],
        );
        b.wait_for(host, "on after `power on`", on).await;
        record("power on", suite, r);
        record(
            "power status (on)",
            suite,
            check(
                &t.call(suite, "password", "power status").await,
                &["Chassis Power is on"],
            ),
        );
        record(
            "chassis status",
            suite,
            check(
                &t.call(suite, "password", "chassis status").await,
                &["System Power         : on"],
            ),
        );

        let before = b.view(host).last_boot.map(|r| r.count);
        let r = check(
            &t.call(suite, "password", "power cycle").await,
            &["Chassis Power Control: Cycle"],
        );
        b.wait_for(host, "rebooted after `power cycle`", |v| {
            on(v) && v.last_boot.as_ref().map(|r| r.count) != before
        })
        .await;
        record("power cycle", suite, r);

        let before = b.view(host).last_boot.map(|r| r.count);
        let r = check(
            &t.call(suite, "password", "power reset").await,
            &["Chassis Power Control: Reset"],
        );
        b.wait_for(host, "rebooted after `power reset`", |v| {
            on(v) && v.last_boot.as_ref().map(|r| r.count) != before
        })
        .await;
        record("power reset", suite, r);

        let r = check(
            &t.call(suite, "password", "power soft").await,
            &["Chassis Power Control: Soft"],
        );
        b.wait_for(host, "off after `power soft`", off).await;
        record("power soft", suite, r);

        check(&t.call(suite, "password", "power on").await, &["Up/On"]).unwrap();
        b.wait_for(host, "on again", on).await;
        let r = check(
            &t.call(suite, "password", "power off").await,
            &["Chassis Power Control: Down/Off"],
        );
        b.wait_for(host, "off after `power off`", off).await;
        record("power off", suite, r);

        for (dev, source, selector) in [
            ("pxe", BootSource::Pxe, "Force PXE"),
            (
                "disk",
                BootSource::Hdd,
                "Force Boot from default Hard-Drive",
            ),
            ("cdrom", BootSource::Cd, "Force Boot from CD/DVD"),
        ] {
            let set = check(
                &t.call(
                    suite,
                    "password",
                    &format!("chassis bootdev {dev} options=persistent,efiboot"),
                )
                .await,
                &[&format!("Set Boot Device to {dev}")],
            );
            let v = b.view(host);
            let truth = if (v.boot_override.target, v.boot_override.mode, v.boot_mode)
                == (source, OverrideMode::Continuous, BootMode::Uefi)
            {
                Ok(())
            } else {
                Err(format!(
                    "machine override is {:?} / {:?}",
                    v.boot_override, v.boot_mode
                ))
            };
            let get = check(
                &t.call(suite, "password", "chassis bootparam get 5").await,
                &[
                    "Boot Flag Valid",
                    "Options apply to all future boots",
                    "BIOS EFI boot",
                    selector,
                ],
            );
            let name: &'static str = match dev {
                "pxe" => "bootdev pxe persistent,efiboot + bootparam get 5",
                "disk" => "bootdev disk persistent,efiboot + bootparam get 5",
                _ => "bootdev cdrom persistent,efiboot + bootparam get 5",
            };
            record(name, suite, set.and(truth).and(get));
        }

        record(
            "mc info",
            suite,
            check(
                &t.call(suite, "password", "mc info").await,
                &[
                    "IPMI Version              : 2.0",
                    "Device Available          : yes",
                ],
            ),
        );
        record(
            "mc selftest",
            suite,
            check(
                &t.call(suite, "password", "mc selftest").await,
                &["Selftest: passed"],
            ),
        );
        record(
            "channel info",
            suite,
            check(
                &t.call(suite, "password", "channel info").await,
                &["Channel Medium Type   : 802.3 LAN"],
            ),
        );
        let uuid = b.world.hosts()[host].profile.system.uuid.to_string();
        record(
            "mc guid",
            suite,
            check(&t.call(suite, "password", "mc guid").await, &[&uuid]),
        );

        let wrong = t.call(suite, "wrong-password", "power status").await;
        let refused = if wrong.status.success() {
            Err(format!("wrong password accepted: {}", text(&wrong)))
        } else if b.counters[host].active_sessions() != 0 {
            Err("a session is still open after the refusal".into())
        } else {
            Ok(())
        };
        record("wrong password refused", suite, refused);
    }

    println!("\nipmitool lanplus matrix (command × cipher suite):");
    println!("| {:<52} | -C 3 | -C 17 |", "command");
    println!("|{}|------|-------|", "-".repeat(54));
    let mut failures = Vec::new();
    for row in &rows {
        let cell = |s: u8| match row.results.iter().find(|(x, _)| *x == s) {
            Some((_, Ok(()))) => "ok",
            Some((_, Err(_))) => "FAIL",
            None => "-",
        };
        println!("| {:<52} | {:<4} | {:<5} |", row.command, cell(3), cell(17));
        for (s, r) in &row.results {
            if let Err(e) = r {
                failures.push(format!("{} -C {s}: {e}", row.command));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "ipmitool failures:\n{}",
        failures.join("\n")
    );
    assert_eq!(b.counters[0].malformed() + b.counters[1].malformed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freeipmi_ipmipower_reads_and_switches_power() {
    let Some(bin) = support::peer("ipmipower") else {
        return;
    };
    let b = Bmcs::start(1).await;
    let host = format!("127.0.0.1:{}", b.addrs[0].port());
    let call = async |op: &str| {
        let args: Vec<String> = [
            "-D", "LAN_2_0", "-h", &host, "-u", "admin", "-p", "password", op,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        text(&run(&bin, &args).await)
    };
    let s = call("--stat").await;
    assert!(s.contains(": off"), "ipmipower --stat: {s}");
    let s = call("--on").await;
    assert!(s.contains(": ok"), "ipmipower --on: {s}");
    b.wait_for(0, "on after ipmipower --on", |v| v.power == PowerState::On)
        .await;
    let s = call("--stat").await;
    assert!(s.contains(": on"), "ipmipower --stat: {s}");
    let s = call("--off").await;
    assert!(s.contains(": ok"), "ipmipower --off: {s}");
    b.wait_for(0, "off after ipmipower --off", |v| {
        v.power == PowerState::Off
    })
    .await;
    assert_eq!(b.counters[0].malformed(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyghmi_client_gets_and_sets_power_and_boot_device() {
    let Some(python) = support::peer("python") else {
        return;
    };
    let b = Bmcs::start(1).await;
    let script = format!(
        r#"
import json, time
from pyghmi.ipmi import command
c = command.Command(bmc='127.0.0.1', userid='admin', password='password', port={port})
out = {{}}
out['before'] = c.get_power()['powerstate']
c.set_power('on', wait=False)
for _ in range(100):
    if c.get_power()['powerstate'] == 'on':
        break
    time.sleep(0.02)
out['after_on'] = c.get_power()['powerstate']
c.set_bootdev('network', persist=True, uefiboot=True)
out['bootdev'] = c.get_bootdev()
c.set_power('off', wait=False)
c.ipmi_session.logout()
print(json.dumps(out))
"#,
        port = b.addrs[0].port()
    );
    let o = run(&python, &["-c".into(), script]).await;
    let t = text(&o);
    assert!(o.status.success(), "pyghmi failed: {t}");
    let line = t
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("pyghmi printed JSON");
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["before"], "off", "{t}");
    assert_eq!(v["after_on"], "on", "{t}");
    assert_eq!(v["bootdev"]["bootdev"], "network", "{t}");
    assert_eq!(v["bootdev"]["persistent"], true, "{t}");
    assert_eq!(v["bootdev"]["uefimode"], true, "{t}");
    let view = b.view(0);
    assert_eq!(
        (view.boot_override.target, view.boot_override.mode),
        (BootSource::Pxe, OverrideMode::Continuous)
    );
    b.wait_for(0, "off after pyghmi set_power off", |v| {
        v.power == PowerState::Off
    })
    .await;
    // pyghmi's last datagram is its logout, and the BMC serves its socket in order: once the
    // session is closed, every datagram pyghmi sent has been counted.
    b.wait_for_counters(0, "pyghmi's session closed", |c| c.active_sessions() == 0)
        .await;
    assert_eq!(b.counters[0].malformed(), 0);
}
