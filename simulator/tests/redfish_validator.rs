//! The DMTF Redfish Service Validator against our fake BMC: zero failures over HTTP with Basic
//! auth, and over HTTPS with session auth, on a two-system (single-address) service with a RAID
//! volume and an event subscription, walking the registries, storage controllers and volumes.

#[path = "redfish_fixture.rs"]
mod fixture;
mod support;

use std::time::Duration;

use metal_sim::machine::Timing;

/// PASS / WARN / FAIL counts from the validator's summary table.
#[derive(Debug, Default)]
struct Summary {
    pass: u64,
    warn: u64,
    fail: u64,
}

/// Reads the summary table the validator prints last:
/// `|  PASS  |  WARN  |  FAIL  |  NOT TESTED  |` followed by a row of numbers.
fn parse_summary(text: &str) -> Option<Summary> {
    let lines: Vec<&str> = text.lines().collect();
    let header = lines.iter().rposition(|l| {
        l.contains("PASS") && l.contains("WARN") && l.contains("FAIL") && l.contains('|')
    })?;
    let cells = |l: &str| -> Vec<String> {
        l.split('|')
            .map(|c| c.trim().to_string())
            .filter(|c| !c.is_empty())
            .collect()
    };
    let names = cells(lines[header]);
    let row = lines[header + 1..]
        .iter()
        .find(|l| l.contains('|') && l.chars().any(|c| c.is_ascii_digit()))?;
    let values: Vec<u64> = cells(row)
        .iter()
        .map(|c| c.parse().ok())
        .collect::<Option<_>>()?;
    let get = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .and_then(|i| values.get(i).copied())
    };
    Some(Summary {
        pass: get("PASS")?,
        warn: get("WARN")?,
        fail: get("FAIL")?,
    })
}

async fn validate(tls: bool, authtype: &str) -> Summary {
    let Some(validator) = support::peer("rf_service_validator") else {
        return Summary::default();
    };
    let Some(csdl) = support::csdl_dir() else {
        assert!(
            !support::peers_required(),
            "PEERS_CSDL missing but REQUIRE_PEERS=1"
        );
        eprintln!("!!!!!!!! PEER MISSING: Redfish CSDL schemas; test skipped !!!!!!!!");
        return Summary::default();
    };
    let server = fixture::Server::start(2, tls, Timing::nominal().scaled(0.001)).await;
    // Resources that exist only once made: a RAID volume on the second system (it has the
    // controller) and, over HTTP, an event subscription.
    let raid_host = &server.world.hosts()[1];
    raid_host
        .with_machine(server.world.now(), |m| {
            m.create_volume(
                server.world.now(),
                metal_sim::machine::VolumeRequest {
                    name: Some("validated".into()),
                    raid_type: "RAID1".into(),
                    drives: vec![0, 1],
                    capacity_bytes: None,
                },
            )
        })
        .expect("a RAID1 volume over both drives");
    if !tls {
        let client = metal_sim::agent::client::http_client(Duration::from_secs(5)).unwrap();
        let created = client
            .post(format!("{}/redfish/v1/EventService/Subscriptions", server.base_url()))
            .basic_auth(fixture::USER, Some(fixture::PASSWORD))
            .json(&serde_json::json!({"Destination": "http://127.0.0.1:9/events", "Context": "validator"}))
            .send()
            .await
            .expect("subscription request");
        assert_eq!(created.status(), 201);
    }
    let logdir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(validator);
    command
        .arg("--rhost")
        .arg(server.base_url())
        .args([
            "-u",
            fixture::USER,
            "-p",
            fixture::PASSWORD,
            "--authtype",
            authtype,
        ])
        .arg("--logdir")
        .arg(logdir.path())
        .arg("--schema_directory")
        .arg(&csdl)
        .args(["--skipschema", "--timeout", "10"])
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(240), command.output())
        .await
        .expect("validator finished within 4 minutes")
        .expect("validator ran");
    server.stop().await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let all = format!("{stdout}\n{stderr}");
    let summary =
        parse_summary(&all).unwrap_or_else(|| panic!("no validator summary in output:\n{all}"));
    println!(
        "rf_service_validator ({}, {authtype}): PASS {} / WARN {} / FAIL {}",
        if tls { "https" } else { "http" },
        summary.pass,
        summary.warn,
        summary.fail
    );
    if summary.fail > 0 || summary.warn > 0 {
        print_findings(logdir.path());
    }
    // The day-2 resources were walked, not only the old ones.
    let logs = log_text(logdir.path());
    let mut visited = vec![
        "/Storage/1/Controllers/0",
        "/Storage/1/Volumes/1",
        "/redfish/v1/Registries/MetalSimBios_",
        "/redfish/v1/EventService",
    ];
    if !tls {
        visited.push("/redfish/v1/EventService/Subscriptions/1");
    }
    for uri in visited {
        assert!(logs.contains(uri), "the validator did not visit {uri}");
    }
    summary
}

/// Every log file the validator wrote, concatenated.
fn log_text(dir: &std::path::Path) -> String {
    let mut stack = vec![dir.to_path_buf()];
    let mut text = String::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    text
}

/// Prints the validator's own FAIL/WARN lines from its debug log (bounded).
fn print_findings(dir: &std::path::Path) {
    let mut stack = vec![dir.to_path_buf()];
    let mut shown = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().contains("Debug"))
            {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for line in text
                    .lines()
                    .filter(|l| l.contains("FAIL") || l.contains("WARN") || l.contains("ERROR"))
                {
                    if shown < 80 {
                        println!("  {line}");
                        shown += 1;
                    }
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmtf_validator_finds_no_failures_over_http_with_basic_auth() {
    let s = validate(false, "Basic").await;
    assert_eq!(s.fail, 0, "validator failures: {s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmtf_validator_finds_no_failures_over_https_with_sessions() {
    let s = validate(true, "Session").await;
    assert_eq!(s.fail, 0, "validator failures: {s:?}");
}

/// Every built-in hardware profile (compute, gpu, small), generated by the fleet file machinery,
/// behind one shared service on an ephemeral port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dmtf_validator_finds_no_failures_on_every_builtin_profile() {
    let Some(validator) = support::peer("rf_service_validator") else {
        return;
    };
    let Some(csdl) = support::csdl_dir() else {
        assert!(
            !support::peers_required(),
            "PEERS_CSDL missing but REQUIRE_PEERS=1"
        );
        return;
    };
    let fleet = metal_sim::fleet::Fleet::parse(
        "seed: 3\ntime_scale: 0.01\nlayout: {mode: single-address, base: 127.0.0.1, redfish_port: 0}\ngroups:\n  - {name: p-compute, profile: compute, bmc: {protocol: redfish, username: admin, password: pw}}\n  - {name: p-gpu, profile: gpu, bmc: {protocol: redfish-virtualmedia, username: admin, password: pw}}\n  - {name: p-small, profile: small, bmc: {protocol: redfish, username: admin, password: pw}}\n",
        "<validator fleet>",
    )
    .expect("fleet parses");
    let world = std::sync::Arc::new(
        fleet
            .build_world(metal_sim::machine::SimClock::start_now())
            .expect("world"),
    );
    let plan = world.listeners().remove(0);
    assert_eq!(plan.hosts.len(), 3);
    let app = metal_sim::redfish::app(metal_sim::redfish::state_for(
        &world,
        &plan,
        Default::default(),
    ));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(metal_sim::redfish::serve(listener, app, None, stop.clone()));
    let logdir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(validator);
    command
        .arg("--rhost")
        .arg(format!("http://{address}"))
        .args([
            "-u",
            "admin",
            "-p",
            "pw",
            "--authtype",
            "Basic",
            "--skipschema",
            "--timeout",
            "10",
        ])
        .arg("--logdir")
        .arg(logdir.path())
        .arg("--schema_directory")
        .arg(&csdl)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(240), command.output())
        .await
        .expect("validator finished within 4 minutes")
        .expect("validator ran");
    stop.cancel();
    server.await.unwrap().unwrap();
    let all = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary =
        parse_summary(&all).unwrap_or_else(|| panic!("no validator summary in output:\n{all}"));
    println!(
        "rf_service_validator (builtin profiles): PASS {} / WARN {} / FAIL {}",
        summary.pass, summary.warn, summary.fail
    );
    if summary.fail > 0 {
        print_findings(logdir.path());
    }
    assert_eq!(summary.fail, 0, "validator failures: {summary:?}");
}

#[test]
fn summary_parser_reads_the_counts() {
    let table = "+----+\n|     PASS     |     WARN     |     FAIL     |  NOT TESTED  |\n+---+\n|     895     |      28      |      70       |     2767     |\n+---+\n";
    let s = parse_summary(table).unwrap();
    assert_eq!((s.pass, s.warn, s.fail), (895, 28, 70));
    assert!(parse_summary("nothing here").is_none());
}
