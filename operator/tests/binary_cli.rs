//! The real `metal-operator` binary: `crds` prints parseable CRDs, `run --help` documents every flag.

use std::process::Command;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;

fn operator(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_metal-operator"))
        .args(args)
        .output()
        .expect("run metal-operator");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn crds_prints_a_yaml_stream_of_custom_resource_definitions() {
    let (ok, stdout, stderr) = operator(&["crds"]);
    assert!(ok, "{stderr}");
    let crds: Vec<CustomResourceDefinition> = serde_yaml::Deserializer::from_str(&stdout)
        .map(|doc| CustomResourceDefinition::deserialize(doc).expect("each document is a CRD"))
        .collect();
    let names: Vec<&str> = crds
        .iter()
        .filter_map(|c| c.metadata.name.as_deref())
        .collect();
    for want in [
        "baremetalhosts.metal3.io",
        "hardwaredata.metal3.io",
        "hostclaims.metal3.io",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let bmh = crds
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some("baremetalhosts.metal3.io"))
        .unwrap();
    assert_eq!(
        bmh.spec.names.short_names.as_deref(),
        Some(&["bmh".to_owned(), "bmhost".to_owned()][..])
    );
}

#[test]
fn run_help_documents_every_flag_and_its_environment_variable() {
    let (ok, help, stderr) = operator(&["run", "--help"]);
    assert!(ok, "{stderr}");
    for flag in [
        "--ironic-endpoint",
        "--ironic-cacert-file",
        "--ironic-insecure",
        "--ironic-username-file",
        "--ironic-password-file",
        "--deploy-kernel-url",
        "--deploy-ramdisk-url",
        "--deploy-iso-url",
        "--provisioning-limit",
        "--max-provisioning-retries",
        "--poll-short",
        "--poll-long",
        "--poll-steady",
        "--poll-slow",
        "--missing-secret-retry",
        "--poll-first",
        "--error-backoff-unit",
        "--concurrency",
        "--kube-qps",
        "--kube-burst",
        "--watch-namespace",
        "--metrics-addr",
        "--health-addr",
        "--leader-elect",
        "--lease-name",
        "--lease-namespace",
        "--lease-identity",
        "--lease-duration-seconds",
        "--lease-renew-deadline-seconds",
        "--lease-retry-period-seconds",
        "--log-format",
        "--log-filter",
        "--seed",
        "--webhook-addr",
        "--webhook-cert-dir",
        "--webhook-configuration",
        "--webhook-ca-file",
        "--webhook-service",
        "--webhook-dns-name",
    ] {
        assert!(
            help.contains(flag),
            "{flag} missing from run --help:\n{help}"
        );
    }
    for env in [
        "IRONIC_ENDPOINT",
        "IRONIC_CACERT_FILE",
        "IRONIC_INSECURE",
        "DEPLOY_KERNEL_URL",
        "DEPLOY_RAMDISK_URL",
        "DEPLOY_ISO_URL",
        "PROVISIONING_LIMIT",
        "MAX_PROVISIONING_RETRIES",
        "METAL_POLL_SHORT",
        "METAL_POLL_LONG",
        "METAL_POLL_STEADY",
        "METAL_POLL_SLOW",
        "METAL_MISSING_SECRET_RETRY",
        "METAL_POLL_FIRST",
        "METAL_ERROR_BACKOFF_UNIT",
        "WEBHOOK_ADDR",
        "WEBHOOK_CERT_DIR",
        "WEBHOOK_CONFIGURATION",
        "WEBHOOK_CA_FILE",
    ] {
        assert!(
            help.contains(&format!("env: {env}")),
            "{env} missing from run --help"
        );
    }
    assert!(
        help.contains("[default: 20]") && help.contains("[default: 5]"),
        "limits document their defaults"
    );
    assert!(
        !help.contains("--ironic-password "),
        "the password itself is never a flag"
    );
}

#[test]
fn run_refuses_an_unknown_log_format_without_starting() {
    let (ok, _, stderr) = operator(&["run", "--log-format", "yaml"]);
    assert!(!ok);
    assert!(stderr.contains("yaml"), "{stderr}");
}

#[test]
fn run_refuses_half_configured_ironic_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let user = dir.path().join("username");
    std::fs::write(&user, "ironic\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_metal-operator"))
        .args(["run", "--ironic-username-file"])
        .arg(&user)
        .env_remove("IRONIC_PASSWORD_FILE")
        .env("KUBECONFIG", dir.path().join("none"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--ironic-password-file"), "{stderr}");
}

#[test]
fn run_refuses_webhook_settings_without_a_webhook_address() {
    let out = Command::new(env!("CARGO_BIN_EXE_metal-operator"))
        .env_clear()
        .args(["run", "--webhook-configuration", "metal-operator"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("need --webhook-addr"), "{stderr}");
}

#[test]
fn run_refuses_lease_timings_that_cannot_work() {
    let out = Command::new(env!("CARGO_BIN_EXE_metal-operator"))
        .env_clear()
        .args(["run", "--leader-elect", "--lease-duration-seconds", "5"])
        .args(["--lease-renew-deadline-seconds", "10"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("renew deadline (10s) < lease duration (5s)"),
        "{stderr}"
    );
}

#[test]
fn run_refuses_poll_intervals_that_make_no_sense_naming_the_flag() {
    let run = |args: &[&str], env: Option<(&str, &str)>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_metal-operator"));
        cmd.env_clear().arg("run").args(args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let zero = run(&["--poll-long", "0"], None);
    assert!(
        zero.contains("--poll-long must be longer than zero"),
        "{zero}"
    );
    let first = run(&["--poll-first", "0s"], None);
    assert!(
        first.contains("--poll-first must be longer than zero"),
        "{first}"
    );
    let garbage = run(&["--poll-short", "soon"], None);
    assert!(
        garbage.contains("--poll-short") && garbage.contains("invalid duration"),
        "{garbage}"
    );
    let negative = run(&["--poll-steady=-5s"], None);
    assert!(negative.contains("--poll-steady"), "{negative}");
    let from_env = run(&[], Some(("METAL_POLL_SLOW", "0")));
    assert!(
        from_env.contains("--poll-slow must be longer than zero"),
        "{from_env}"
    );
}
