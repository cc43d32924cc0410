//! No task an input spawns outlives it: a fuzz process runs millions of inputs on one runtime,
//! and a task left per input (a watch's forwarder) grew the control plane target by about 0.8 KB
//! an input until libFuzzer's memory limit would have stopped it.

use std::path::Path;

use metal_fuzz::TARGETS;

#[test]
fn the_http_targets_leave_no_task_behind() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    for name in ["controlplane", "ironic", "redfish"] {
        let target = TARGETS.iter().find(|t| t.name == name).unwrap();
        let mut files: Vec<_> = std::fs::read_dir(seeds.join(name))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{name} has seeds");
        for file in files {
            let input = std::fs::read(&file).unwrap();
            for _ in 0..20 {
                (target.run)(&input);
            }
            assert_eq!(
                metal_fuzz::http::alive_tasks(),
                0,
                "tasks left alive after {}",
                file.display()
            );
        }
    }
}
