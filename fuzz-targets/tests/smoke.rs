//! The smoke run of every fuzz target, without libFuzzer: each body over its committed seeds
//! (`fuzz/seeds/<target>/`), every crash input found so far (`fuzz/regressions/<target>/`), and
//! inputs mutated from the seeds by a fixed-seed RNG, bounded in count and in time. A failing
//! input is written under the test's temporary directory and named in the failure.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use metal_fuzz::mutate::Mutator;
use metal_fuzz::{TARGETS, Target};

/// Mutated inputs per target, at most.
const MUTATIONS: usize = 2_000;
/// Time per target for the mutated inputs, at most (the seeds and regressions always all run).
const BUDGET: Duration = Duration::from_secs(3);
/// The mutator's seed: a failure reproduces with the same seed and index.
const SEED: u64 = 0x5eed_f022;

fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("a readable input");
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

fn run_one(target: &Target, what: &str, input: &[u8]) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| (target.run)(input))) {
        let saved = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{what}", target.name));
        std::fs::write(&saved, input).expect("the failing input is saved");
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        panic!(
            "{} failed on {what} (input saved at {}): {message}",
            target.name,
            saved.display()
        );
    }
}

fn smoke(name: &str) {
    let target = TARGETS
        .iter()
        .find(|t| t.name == name)
        .expect("a known target");
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let seeds = inputs(&fuzz.join("seeds").join(name));
    assert!(!seeds.is_empty(), "{name}: no seeds in fuzz/seeds/{name}");
    for (path, bytes) in &seeds {
        run_one(target, &format!("seed-{}", file_name(path)), bytes);
    }
    let regressions = inputs(&fuzz.join("regressions").join(name));
    for (path, bytes) in &regressions {
        run_one(target, &format!("regression-{}", file_name(path)), bytes);
    }
    let mut mutator = Mutator::new(SEED);
    let start = Instant::now();
    let mut ran = 0;
    while ran < MUTATIONS && start.elapsed() < BUDGET {
        let base = &seeds[ran % seeds.len()].1;
        let other = &seeds[(ran / seeds.len() + 1) % seeds.len()].1;
        let input = mutator.mutate(base, other);
        run_one(target, &format!("mutation-{SEED:x}-{ran}"), &input);
        ran += 1;
    }
    eprintln!(
        "{name}: {} seeds, {} regressions, {ran} mutations in {:?}",
        seeds.len(),
        regressions.len(),
        start.elapsed()
    );
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn every_target_has_a_smoke_test_and_a_libfuzzer_target() {
    let listed = [
        "ipmi_bmc",
        "ipmi_session",
        "ipmi_client",
        "redfish",
        "ironic",
        "controlplane",
        "patch",
        "selector",
        "bmc_address",
        "fleet",
        "scenario",
        "agent_command",
        "checksum",
    ];
    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
    assert_eq!(names, listed);
    // ... and every body has its libFuzzer target (the file and its [[bin]] in fuzz/).
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for t in TARGETS {
        let file = fuzz.join("fuzz_targets").join(format!("{}.rs", t.name));
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            text.contains("metal_fuzz::"),
            "{} does not call its body",
            file.display()
        );
        assert!(
            manifest.contains(&format!("name = \"{}\"", t.name)),
            "fuzz/Cargo.toml has no [[bin]] {}",
            t.name
        );
    }
}

macro_rules! smoke_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                smoke(stringify!($name));
            }
        )*
    };
}

smoke_tests!(
    ipmi_bmc,
    ipmi_session,
    ipmi_client,
    redfish,
    ironic,
    controlplane,
    patch,
    selector,
    bmc_address,
    fleet,
    scenario,
    agent_command,
    checksum,
);
