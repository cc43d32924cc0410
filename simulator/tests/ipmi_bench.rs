//! The Rust-client half of `scripts/bench-ipmi.sh`: full RMCP+ sessions per second and commands per
//! second in one session against the BMC named by `IPMI_BENCH_TARGET`. Ignored in normal runs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use metal_sim::ipmi::{Client, ClientConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Full sessions (open, one `power status`, close) until `count` or `limit`; returns how many.
async fn sessions(config: &ClientConfig, seed: u64, count: u64, limit: Duration) -> u64 {
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut done = 0u64;
    while done < count && start.elapsed() < limit {
        let mut c = Client::new(config.clone(), ChaCha8Rng::from_rng(&mut rng))
            .await
            .expect("client");
        c.open_session().await.expect("session opens");
        c.power_status().await.expect("power status");
        c.close().await.expect("session closes");
        done += 1;
    }
    done
}

/// `power status` inside one session until `count` or `limit`; returns how many.
async fn commands(config: &ClientConfig, seed: u64, count: u64, limit: Duration) -> u64 {
    let mut c = Client::new(config.clone(), ChaCha8Rng::seed_from_u64(seed))
        .await
        .expect("client");
    c.open_session().await.expect("session opens");
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < count && start.elapsed() < limit {
        c.power_status().await.expect("power status");
        sent += 1;
    }
    c.close().await.expect("session closes");
    sent
}

/// Runs `workers` copies of a measurement at once; returns the total per second.
async fn parallel<F, Fut>(workers: u64, f: F) -> f64
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = u64> + Send + 'static,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..workers).map(|w| tokio::spawn(f(w))).collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("worker");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// The sequential measures run the client on a current-thread runtime (its one task, its socket
/// and its timer on one thread, no hand-off between workers per round trip); the concurrent ones
/// on two workers. The same client and runtimes face every BMC the script measures.
#[test]
#[ignore = "driven by scripts/bench-ipmi.sh with IPMI_BENCH_TARGET set"]
fn bench_rust_client_sessions_and_commands() {
    let sequential = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("current-thread runtime");
    let concurrent = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("multi-thread runtime");
    measure(&sequential, &concurrent);
}

fn measure(sequential: &tokio::runtime::Runtime, concurrent: &tokio::runtime::Runtime) {
    let Ok(target) = std::env::var("IPMI_BENCH_TARGET") else {
        eprintln!("IPMI_BENCH_TARGET not set: nothing to measure");
        return;
    };
    let target: SocketAddr = target.parse().expect("IPMI_BENCH_TARGET is host:port");
    assert!(target.ip().is_loopback(), "benchmarks target loopback only");
    let count = env_num("IPMI_BENCH_SESSIONS", 200);
    let cmds = env_num("IPMI_BENCH_COMMANDS", 1000);
    let limit = Duration::from_secs(env_num("IPMI_BENCH_SECONDS", 20));
    let workers = env_num("IPMI_BENCH_CONCURRENCY", 8).max(1);
    let suite = u8::try_from(env_num("IPMI_BENCH_SUITE", 3)).expect("suite fits in a byte");
    let mut config = ClientConfig::new(target, "admin", "password");
    config.cipher_suite = suite;
    config.timeout = Duration::from_secs(2);
    config.retries = 1;

    let c = config.clone();
    let seq_sessions = sequential.block_on(parallel(1, move |w| {
        let c = c.clone();
        async move { sessions(&c, w, count, limit).await }
    }));
    let c = config.clone();
    let seq_commands = sequential.block_on(parallel(1, move |w| {
        let c = c.clone();
        async move { commands(&c, 100 + w, cmds, limit).await }
    }));
    let c = config.clone();
    let par_sessions = concurrent.block_on(parallel(workers, move |w| {
        let c = c.clone();
        async move { sessions(&c, 200 + w, count.div_ceil(workers), limit).await }
    }));
    let c = config.clone();
    let par_commands = concurrent.block_on(parallel(workers, move |w| {
        let c = c.clone();
        async move { commands(&c, 300 + w, cmds.div_ceil(workers), limit).await }
    }));
    println!(
        "IPMI_BENCH sessions_per_s={seq_sessions:.1} commands_per_s={seq_commands:.1} \
         parallel_sessions_per_s={par_sessions:.1} parallel_commands_per_s={par_commands:.1} workers={workers}"
    );
}
