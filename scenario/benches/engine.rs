//! Engine-mode benchmark: 10 000 hosts through register → inspect → available → provisioned →
//! deprovisioned → available in virtual time. Prints wall time, virtual time, events and peak
//! RSS (targets, not asserted: < 5 s and < 512 MiB for 10 000 hosts on a 2-core machine, issue 13).
//!
//! `cargo bench -p metal-scenario --bench engine [-- HOSTS] [--trace-calls]`
//!
//! The bench runs with mimalloc as its global allocator (the library does not choose one).

use std::time::{Duration, Instant};

/// The engine allocates and frees small objects at a high rate (JSON trees, strings, requests);
/// glibc's allocator spent about a third of the run in `malloc`/`free` (perf, 10 000 hosts).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result, bail};
use metal_scenario::engine::{Engine, EngineSettings, TraceLevel};
use metal_sim::fleet::Fleet;
use metal_sim::machine::SimTime;

const IMAGE: &str = "http://images.example/os.qcow2";

fn fleet(hosts: u32) -> Result<Fleet> {
    let ipmi = hosts / 5;
    let gpu = hosts / 10;
    let redfish = hosts - ipmi - gpu;
    let mut groups = format!(
        "  - {{name: 'rf-{{index:05}}', count: {redfish}, profile: compute, bmc: {{protocol: redfish}}}}\n"
    );
    if ipmi > 0 {
        groups.push_str(&format!(
            "  - {{name: 'ipmi-{{index:05}}', count: {ipmi}, profile: small, bmc: {{protocol: ipmi}}}}\n"
        ));
    }
    if gpu > 0 {
        groups.push_str(&format!(
            "  - {{name: 'gpu-{{index:05}}', count: {gpu}, profile: gpu, bmc: {{protocol: redfish-virtualmedia}}}}\n"
        ));
    }
    let text = format!(
        "seed: 7\ntime_scale: 1.0\nnamespace: metal3\nlayout: {{mode: per-address, base: 127.1.0.1}}\ngroups:\n{groups}"
    );
    Ok(Fleet::parse(&text, "<bench>")?)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn phase(e: &mut Engine, name: &str, state: &str, n: usize, started: Instant) -> Result<()> {
    let t0 = e.now();
    let wall = Instant::now();
    let deadline = e.now() + Duration::from_secs(24 * 3600);
    e.advance_until(|e| e.count_in(state) == n, deadline)
        .with_context(|| format!("{name}: counts {:?}", e.state_counts()))?;
    println!(
        "  {name:<34} virtual {:>9}  wall {:>7.2}s  (total {:>6.2}s, {} events)",
        format!(
            "{}",
            SimTime::from_nanos(e.now().as_nanos() - t0.as_nanos())
        ),
        wall.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64(),
        e.events_handled()
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let trace = if args.iter().any(|a| a == "--trace-calls") {
        TraceLevel::Calls
    } else {
        TraceLevel::Transitions
    };
    let hosts: u32 = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(|a| a.parse())
        .transpose()
        .context("HOSTS must be a number")?
        .unwrap_or(10_000);
    if hosts == 0 {
        bail!("HOSTS must be at least 1");
    }
    let started = Instant::now();
    let fleet = fleet(hosts)?;
    let n = fleet.hosts().len();
    let settings = EngineSettings {
        provisioning_limit: u32::try_from(n)?,
        trace,
        ..EngineSettings::default()
    };
    let mut e = Engine::new(&fleet, 1, settings);
    e.register_fleet(&fleet)?;
    // The engine keeps its own copy of every host's spec; the fleet is not needed any more.
    drop(fleet);
    println!(
        "engine mode: {n} hosts (redfish, ipmi, redfish-virtualmedia GPU), provisioning limit {n}, trace level {trace:?} (--trace-calls records every call)"
    );
    phase(
        &mut e,
        "register → inspect → available",
        "available",
        n,
        started,
    )?;
    let keys: Vec<String> = e.rows().into_iter().map(|r| r.key).collect();
    for key in &keys {
        e.edit_host(key, "set image", |h| {
            h.spec.image = Some(metal_core::api::Image {
                url: IMAGE.into(),
                checksum: Some(format!("{IMAGE}.sha256sum")),
                ..Default::default()
            });
        })?;
    }
    phase(&mut e, "available → provisioned", "provisioned", n, started)?;
    for key in &keys {
        e.edit_host(key, "remove image", |h| h.spec.image = None)?;
    }
    phase(
        &mut e,
        "provisioned → deprovisioned → available",
        "available",
        n,
        started,
    )?;
    let wall = started.elapsed();
    println!(
        "  total: wall {:.2}s (target < 5 s at 10 000 hosts), virtual {}, {} events, {} reconciles, {} trace records, {} Ironic API requests",
        wall.as_secs_f64(),
        e.now(),
        e.events_handled(),
        e.reconciles(),
        e.trace().len(),
        e.ironic_requests()
    );
    match peak_rss_kib() {
        Some(kib) => println!(
            "  peak RSS: {:.0} MiB (target < 512 MiB at 10 000 hosts)",
            kib as f64 / 1024.0
        ),
        None => println!("  peak RSS: unavailable (/proc/self/status has no VmHWM)"),
    }
    Ok(())
}
