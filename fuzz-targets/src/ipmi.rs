//! IPMI over LAN: datagrams into the BMC engine (`Bmc::handle_from`, what the UDP server calls on
//! each datagram), in-session commands after a real RMCP+ handshake, and the client's reading of
//! replies (`ipmi::client::reply`, what the client calls on each datagram it receives).

use std::sync::Arc;
use std::time::Duration;

use metal_sim::ipmi::client::reply;
use metal_sim::ipmi::command::app_cmd;
use metal_sim::ipmi::crypto::{
    CipherSuite, ConfidentialityAlgorithm, Handshake, KNOWN_SUITES, SessionKeys,
};
use metal_sim::ipmi::message::{Request, netfn};
use metal_sim::ipmi::packet::{self, PayloadType, V20Header};
use metal_sim::ipmi::server::{HostChassis, bmc_config};
use metal_sim::ipmi::session::{SessionPolicy, algorithm_record};
use metal_sim::ipmi::{Bmc, Counters};
use metal_sim::machine::{Host, ListenerKind, SimClock, World};

/// The most datagrams or commands one input sends.
const MAX_DATAGRAMS: usize = 64;

fn world() -> Arc<World> {
    let fleet = crate::fuzz_fleet();
    Arc::new(
        fleet
            .build_world(SimClock::start_now())
            .expect("the fuzz world builds"),
    )
}

fn ipmi_host(world: &World) -> Arc<Host> {
    let plan = world
        .listeners()
        .into_iter()
        .find(|p| p.kind == ListenerKind::Ipmi)
        .expect("the fuzz fleet has an IPMI BMC");
    Arc::clone(world.host(plan.hosts[0]).expect("the planned host"))
}

/// A BMC of the fuzz fleet's IPMI host (the demo fleet's) offering every known suite (those without integrity too,
/// so the fuzzer reaches their code).
fn bmc(host: &Host) -> Bmc {
    let policy = SessionPolicy {
        cipher_suites: KNOWN_SUITES.iter().map(|s| s.id).collect(),
        ..SessionPolicy::default()
    };
    Bmc::new(bmc_config(host, policy), Arc::new(Counters::default()))
}

/// Each byte `n` starts a datagram of the next `n` bytes (at most 64). Every datagram is
/// handled without a panic, and every answer is a datagram that decodes.
pub fn bmc_datagrams(data: &[u8]) {
    let world = world();
    let host = ipmi_host(&world);
    let mut bmc = bmc(&host);
    let mut rest = data;
    let mut sent = 0;
    while let Some((&n, tail)) = rest.split_first() {
        if sent == MAX_DATAGRAMS {
            break;
        }
        let (datagram, tail) = tail.split_at(usize::from(n).min(tail.len()));
        rest = tail;
        sent += 1;
        let mut chassis = HostChassis {
            host: &host,
            now: world.now(),
        };
        let now = Duration::from_millis(sent as u64 * 10);
        if let Some(answer) = bmc.handle(datagram, now, &mut chassis) {
            assert!(
                packet::decode(&answer).is_ok(),
                "the BMC answered {datagram:02x?} with a datagram that does not decode: {answer:02x?}"
            );
        }
    }
}

struct Console {
    suite: CipherSuite,
    bmc_id: u32,
    keys: SessionKeys,
    sequence: u32,
}

/// Opens a session with `suite` as the fleet's admin, the way our client does, reading
/// each answer with the client's readers.
fn open(bmc: &mut Bmc, host: &Host, world: &World, suite: CipherSuite) -> Console {
    let mut chassis = HostChassis {
        host,
        now: world.now(),
    };
    let mut step = |payload_type, expect, payload: Vec<u8>| {
        let tag = payload[0];
        let h = V20Header {
            payload_type,
            session_id: 0,
            sequence: 0,
            encrypted: false,
        };
        let answer = bmc
            .handle(
                &packet::encode_v20(h, &payload, None),
                Duration::ZERO,
                &mut chassis,
            )
            .unwrap_or_else(|| panic!("suite {}: no answer to {payload_type:?}", suite.id));
        reply::handshake(&answer, expect, tag)
            .unwrap_or_else(|| panic!("suite {}: the client cannot read {answer:02x?}", suite.id))
    };
    let console_id = 0x1234_5678;
    let mut open = vec![1, 4, 0, 0];
    open.extend(u32::to_le_bytes(console_id));
    open.extend(algorithm_record(0, suite.auth.number()));
    open.extend(algorithm_record(1, suite.integrity.number()));
    open.extend(algorithm_record(2, suite.confidentiality.number()));
    let r = step(
        PayloadType::OpenSessionRequest,
        PayloadType::OpenSessionResponse,
        open,
    );
    let bmc_id = reply::open_session(&r, console_id)
        .unwrap_or_else(|e| panic!("suite {}: Open Session {e:?}", suite.id));
    let console_random = [7u8; 16];
    let role = 0x14;
    let name = b"admin";
    let mut rakp1 = vec![2, 0, 0, 0];
    rakp1.extend(bmc_id.to_le_bytes());
    rakp1.extend(console_random);
    rakp1.extend([role, 0, 0, name.len() as u8]);
    rakp1.extend(name);
    let r2 = step(PayloadType::Rakp1, PayloadType::Rakp2, rakp1);
    let r2 = reply::rakp2(&r2, suite.auth.code_len())
        .unwrap_or_else(|e| panic!("suite {}: RAKP 2 {e:?}", suite.id));
    let hs = Handshake {
        console_session_id: console_id,
        bmc_session_id: bmc_id,
        console_random,
        bmc_random: r2.bmc_random,
        bmc_guid: r2.bmc_guid,
        role,
        username: name,
    };
    let kuid = b"password";
    assert_eq!(
        hs.rakp2_code(suite.auth, kuid),
        r2.code,
        "suite {}: RAKP 2 code",
        suite.id
    );
    let mut rakp3 = vec![3, 0, 0, 0];
    rakp3.extend(bmc_id.to_le_bytes());
    rakp3.extend(hs.rakp3_code(suite.auth, kuid));
    let r4 = step(PayloadType::Rakp3, PayloadType::Rakp4, rakp3);
    let sik = hs.sik(suite.auth, kuid);
    let icv = reply::rakp4(&r4, suite.auth.icv_len())
        .unwrap_or_else(|e| panic!("suite {}: RAKP 4 {e:?}", suite.id));
    assert_eq!(
        hs.rakp4_icv(suite.auth, &sik),
        icv,
        "suite {}: RAKP 4 ICV",
        suite.id
    );
    Console {
        suite,
        bmc_id,
        keys: SessionKeys::derive(suite, &sik),
        sequence: 0,
    }
}

/// The first byte picks the cipher suite; a real handshake opens a session; then each byte `n`
/// starts a command of the next `n` bytes (`netfn`, `cmd`, data), sent signed and encrypted as
/// the suite says. The BMC answers every command until the session is closed, and the client's
/// reader takes each answer (same sequence and command).
pub fn session_commands(data: &[u8]) {
    let Some((&pick, mut rest)) = data.split_first() else {
        return;
    };
    let world = world();
    let host = ipmi_host(&world);
    let mut bmc = bmc(&host);
    let suite = KNOWN_SUITES[usize::from(pick) % KNOWN_SUITES.len()];
    let mut console = open(&mut bmc, &host, &world, suite);
    let mut rq_seq = 0u8;
    for _ in 0..MAX_DATAGRAMS {
        let Some((&n, tail)) = rest.split_first() else {
            break;
        };
        let (command, tail) = tail.split_at(usize::from(n).min(tail.len()));
        rest = tail;
        let [nf, cmd, body @ ..] = command else {
            continue;
        };
        // Requests only (even netfn); a response netfn is not a command.
        let nf = nf & 0x3E;
        rq_seq = (rq_seq + 1) & 0x3F;
        let message = Request::new(nf, *cmd, rq_seq, body.to_vec()).encode();
        console.sequence += 1;
        let encrypted = console.suite.confidentiality != ConfidentialityAlgorithm::None;
        let h = V20Header {
            payload_type: PayloadType::Ipmi,
            session_id: console.bmc_id,
            sequence: console.sequence,
            encrypted,
        };
        let iv = [console.sequence as u8; 16];
        let datagram =
            packet::encode_v20(h, &console.keys.encrypt(&message, iv), Some(&console.keys));
        let mut chassis = HostChassis {
            host: &host,
            now: world.now(),
        };
        let answer = bmc
            .handle(&datagram, Duration::from_millis(10), &mut chassis)
            .unwrap_or_else(|| {
                panic!(
                    "suite {}: no answer in session to netfn {nf:#x} cmd {cmd:#x} data {body:02x?}",
                    suite.id
                )
            });
        let r = reply::in_session(&console.keys, &answer, rq_seq, *cmd).unwrap_or_else(|| {
            panic!(
                "suite {}: the client cannot read the answer {answer:02x?}",
                suite.id
            )
        });
        if nf == netfn::APP && *cmd == app_cmd::CLOSE_SESSION && r.completion == 0 {
            break;
        }
    }
}

/// The input is a datagram (or its payload) a BMC might send: every reader of the client takes
/// it or refuses it without a panic. Then, as the BMC's answer data, it goes through the
/// in-session encoding of each suite and must come back unchanged (encode then read).
pub fn client_replies(data: &[u8]) {
    let tag = data.first().copied().unwrap_or_default();
    for t in [
        PayloadType::OpenSessionResponse,
        PayloadType::Rakp2,
        PayloadType::Rakp4,
    ] {
        let _ = reply::handshake(data, t, tag);
    }
    let _ = reply::pre_session(data, tag & 0x3F, app_cmd::GET_CHANNEL_AUTH_CAPABILITIES);
    let _ = reply::supports_ipmi20(data);
    let _ = reply::open_session(data, 0x1234_5678);
    for len in [0, 12, 16, 20, 32] {
        let _ = reply::rakp2(data, len);
        let _ = reply::rakp4(data, len);
    }
    let _ = reply::chassis_status(data);
    let _ = reply::boot_flags(data);
    let _ = reply::system_guid(data);
    for suite in KNOWN_SUITES {
        let keys = SessionKeys::derive(suite, &[0x5a; 20]);
        let _ = reply::in_session(&keys, data, tag & 0x3F, 1);
        // What a BMC would send: the input as the data of a response, completion 0.
        let req = Request::new(netfn::APP, app_cmd::GET_DEVICE_ID, 9, Vec::new());
        let body = data.get(..data.len().min(200)).unwrap_or_default();
        let message = req.respond(0, body);
        let h = V20Header {
            payload_type: PayloadType::Ipmi,
            session_id: 1,
            sequence: 1,
            encrypted: suite.confidentiality != ConfidentialityAlgorithm::None,
        };
        let datagram = packet::encode_v20(h, &keys.encrypt(&message, [tag; 16]), Some(&keys));
        let r = reply::in_session(&keys, &datagram, 9, app_cmd::GET_DEVICE_ID)
            .unwrap_or_else(|| panic!("suite {}: our own encoding is not read back", suite.id));
        assert_eq!(
            (r.completion, r.data.as_slice()),
            (0, body),
            "suite {}",
            suite.id
        );
    }
}
