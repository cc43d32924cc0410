//! Free loopback ports for servers a test tells which port to use (real Ironic, the operator's
//! probes, kube-apiserver): checked by binding 127.0.0.1, drawn from 20000..32000 — below Linux's
//! ephemeral range (32768–60999), so the many sockets bound to port 0 meanwhile (fake agents,
//! BMCs, clients) are never handed the same port — and never handed out twice in one process.
//!
//! A port from here is free when drawn, not reserved: the server that is told it binds it soon
//! after. Servers that can report their own address should bind port 0 instead.

use std::hash::{BuildHasher as _, Hasher as _};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The range ports are drawn from.
pub const RANGE: std::ops::Range<u16> = 20_000..32_000;

/// How many ports this process has drawn (each draw moves on, so none repeats).
static DRAWN: AtomicU32 = AtomicU32::new(0);

/// Where this process starts in [`RANGE`]: random per process, so concurrent test processes
/// (nextest runs each test in its own) rarely probe the same ports.
fn start() -> u32 {
    static START: OnceLock<u32> = OnceLock::new();
    *START.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        (h.finish() % u64::from(len())) as u32
    })
}

fn len() -> u32 {
    u32::from(RANGE.end - RANGE.start)
}

/// A TCP port free on 127.0.0.1. Panics when the whole range is taken.
pub fn free_port() -> u16 {
    free_port_on(Ipv4Addr::LOCALHOST)
}

/// A TCP port free on `ip` (a loopback address). Panics when the whole range is taken.
pub fn free_port_on(ip: Ipv4Addr) -> u16 {
    for _ in 0..len() {
        let n = DRAWN.fetch_add(1, Ordering::Relaxed);
        let port = RANGE.start + ((start() + n) % len()) as u16;
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free TCP port on {ip} in {}..{}", RANGE.start, RANGE.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_loopback_bindable_below_the_ephemeral_range_and_never_repeat() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let distinct: std::collections::HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for p in &ports {
            assert!(RANGE.contains(p), "{p}");
        }
        let p = free_port();
        TcpListener::bind(("127.0.0.1", p)).expect("a drawn port binds");
    }
}
