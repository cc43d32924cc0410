use super::super::crypto::{AuthAlgorithm, Handshake};
use super::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The console of most tests.
const CONSOLE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
/// A source opening sessions it never completes.
const SPOOFED: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

fn table() -> SessionTable {
    table_with(SessionPolicy::default())
}

fn table_with(policy: SessionPolicy) -> SessionTable {
    let users = vec![User {
        name: "admin".into(),
        password: "password".into(),
        max_privilege: Privilege::Administrator,
    }];
    SessionTable::new(policy, users, [0x42; 16])
}

fn open_request(auth: u8, integ: u8, conf: u8) -> Vec<u8> {
    let mut p = vec![7, 0, 0, 0];
    p.extend(0xC0C1C2C3u32.to_le_bytes());
    p.extend(algorithm_record(0, auth));
    p.extend(algorithm_record(1, integ));
    p.extend(algorithm_record(2, conf));
    p
}

fn rakp1(bmc_id: u32, role: u8, name: &[u8]) -> Vec<u8> {
    let mut p = vec![8, 0, 0, 0];
    p.extend(bmc_id.to_le_bytes());
    p.extend([0x11; 16]);
    p.extend([role, 0, 0, name.len() as u8]);
    p.extend(name);
    p
}

fn bmc_id(reply: &Reply) -> u32 {
    u32::from_le_bytes(reply.payload[8..12].try_into().unwrap())
}

fn handshake_through_rakp2(
    t: &mut SessionTable,
    rng: &mut ChaCha8Rng,
    suite: (u8, u8, u8),
) -> (u32, Reply) {
    let open = t
        .open(
            &open_request(suite.0, suite.1, suite.2),
            CONSOLE,
            Duration::ZERO,
            rng,
        )
        .unwrap();
    assert_eq!(open.status, 0);
    let id = bmc_id(&open);
    let r2 = t
        .rakp1(&rakp1(id, 0x14, b"admin"), Duration::ZERO, rng)
        .unwrap();
    (id, r2)
}

fn console_rakp3(id: u32, r2: &Reply, password: &[u8], alg: AuthAlgorithm) -> Vec<u8> {
    let hs = Handshake {
        console_session_id: 0xC0C1C2C3,
        bmc_session_id: id,
        console_random: [0x11; 16],
        bmc_random: r2.payload[8..24].try_into().unwrap(),
        bmc_guid: r2.payload[24..40].try_into().unwrap(),
        role: 0x14,
        username: b"admin",
    };
    let mut p = vec![9, 0, 0, 0];
    p.extend(id.to_le_bytes());
    p.extend(hs.rakp3_code(alg, password));
    p
}

#[test]
fn suite_17_handshake_activates_the_session_at_user_level() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut t = table();
    let (id, r2) = handshake_through_rakp2(&mut t, &mut rng, (3, 4, 1));
    assert_eq!(r2.status, 0);
    assert_eq!(r2.payload.len(), 40 + 32);
    let r4 = t
        .rakp3(
            &console_rakp3(id, &r2, b"password", AuthAlgorithm::HmacSha256),
            Duration::ZERO,
        )
        .unwrap();
    assert_eq!(r4.status, 0);
    assert_eq!(r4.payload.len(), 8 + 16);
    let SessionStage::Active(a) = &t.get_mut(id).unwrap().stage else {
        panic!("not active")
    };
    assert_eq!(
        (a.privilege, a.max_privilege),
        (Privilege::User, Privilege::Administrator)
    );
}

#[test]
fn wrong_password_is_refused_at_rakp3_with_invalid_integrity_check() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let mut t = table();
    let (id, r2) = handshake_through_rakp2(&mut t, &mut rng, (1, 1, 1));
    let r4 = t
        .rakp3(
            &console_rakp3(id, &r2, b"wrong", AuthAlgorithm::HmacSha1),
            Duration::ZERO,
        )
        .unwrap();
    assert_eq!(r4.status, status::INVALID_INTEGRITY_CHECK);
    assert!(t.is_empty());
}

#[test]
fn unknown_user_is_refused_in_rakp2() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut t = table();
    let open = t
        .open(&open_request(1, 1, 1), CONSOLE, Duration::ZERO, &mut rng)
        .unwrap();
    let r2 = t
        .rakp1(
            &rakp1(bmc_id(&open), 0x14, b"mallory"),
            Duration::ZERO,
            &mut rng,
        )
        .unwrap();
    assert_eq!(r2.status, status::UNAUTHORIZED_NAME);
    assert_eq!(r2.payload.len(), 8);
    assert!(t.is_empty());
}

#[test]
fn unsupported_algorithms_get_the_matching_status() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut t = table();
    let st = |t: &mut SessionTable, rng: &mut ChaCha8Rng, a, i, c| {
        t.open(&open_request(a, i, c), CONSOLE, Duration::ZERO, rng)
            .unwrap()
            .status
    };
    assert_eq!(
        st(&mut t, &mut rng, 2, 1, 1),
        status::INVALID_AUTH_ALGORITHM
    );
    assert_eq!(
        st(&mut t, &mut rng, 1, 3, 1),
        status::INVALID_INTEGRITY_ALGORITHM
    );
    assert_eq!(
        st(&mut t, &mut rng, 1, 1, 2),
        status::INVALID_CONFIDENTIALITY_ALGORITHM
    );
    assert_eq!(st(&mut t, &mut rng, 1, 4, 1), status::NO_CIPHER_SUITE_MATCH);
    // Suite 0 is known but not offered by default.
    assert_eq!(st(&mut t, &mut rng, 0, 0, 0), status::NO_CIPHER_SUITE_MATCH);
}

#[test]
fn sessions_expire_after_idle_timeout_and_table_limits_hold() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut t = table();
    // From 32 sources (one source alone may hold only `max_half_open_per_source`).
    for i in 0..32u8 {
        let source = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 100 + i));
        assert_eq!(
            t.open(&open_request(1, 1, 1), source, Duration::ZERO, &mut rng)
                .unwrap()
                .status,
            0
        );
    }
    let full = t
        .open(
            &open_request(1, 1, 1),
            CONSOLE,
            Duration::from_secs(1),
            &mut rng,
        )
        .unwrap();
    assert_eq!(full.status, status::NO_RESOURCES);
    let later = t
        .open(
            &open_request(1, 1, 1),
            CONSOLE,
            Duration::from_secs(11),
            &mut rng,
        )
        .unwrap();
    assert_eq!(later.status, 0);
    assert_eq!(t.len(), 1);
}

#[test]
fn one_source_opening_32_sessions_leaves_the_table_to_others_until_they_expire() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut t = table();
    let statuses: Vec<u8> = (0..32)
        .map(|_| {
            t.open(&open_request(3, 4, 1), SPOOFED, Duration::ZERO, &mut rng)
                .unwrap()
                .status
        })
        .collect();
    let quota = SessionPolicy::default().max_half_open_per_source;
    assert!(statuses[..quota].iter().all(|s| *s == status::OK));
    assert!(statuses[quota..].iter().all(|s| *s == status::NO_RESOURCES));
    assert_eq!(t.half_open_from(SPOOFED), quota);

    // A real console from another source completes its handshake.
    let (id, r2) = handshake_through_rakp2(&mut t, &mut rng, (3, 4, 1));
    assert_eq!(r2.status, status::OK);
    let r4 = t
        .rakp3(
            &console_rakp3(id, &r2, b"password", AuthAlgorithm::HmacSha256),
            Duration::ZERO,
        )
        .unwrap();
    assert_eq!(r4.status, status::OK);

    // The spoofed source's half-open sessions expire; then it may open again.
    let before = t
        .open(
            &open_request(3, 4, 1),
            SPOOFED,
            Duration::from_secs(9),
            &mut rng,
        )
        .unwrap();
    assert_eq!(before.status, status::NO_RESOURCES);
    let after = t
        .open(
            &open_request(3, 4, 1),
            SPOOFED,
            Duration::from_secs(11),
            &mut rng,
        )
        .unwrap();
    assert_eq!(after.status, status::OK);
    assert_eq!(t.half_open_from(SPOOFED), 1);
}

#[test]
fn suites_without_integrity_are_refused_unless_the_bmc_allows_them() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // (auth, integrity, confidentiality): suites 0, 1 and 15.
    let without_integrity = [(0, 0, 0), (1, 0, 0), (3, 0, 0)];
    let mut t = table();
    for (a, i, c) in without_integrity {
        let r = t
            .open(&open_request(a, i, c), CONSOLE, Duration::ZERO, &mut rng)
            .unwrap();
        assert_eq!(
            r.status,
            status::NO_CIPHER_SUITE_MATCH,
            "suite ({a}, {i}, {c})"
        );
    }
    let mut allowing = table_with(SessionPolicy::allowing_suites_without_integrity());
    for (a, i, c) in [(1, 0, 0), (3, 0, 0)] {
        let r = allowing
            .open(&open_request(a, i, c), CONSOLE, Duration::ZERO, &mut rng)
            .unwrap();
        assert_eq!(r.status, status::OK, "suite ({a}, {i}, {c})");
    }
    // Suite 0 (no authentication at all) stays refused even then.
    let r = allowing
        .open(&open_request(0, 0, 0), CONSOLE, Duration::ZERO, &mut rng)
        .unwrap();
    assert_eq!(r.status, status::NO_CIPHER_SUITE_MATCH);
}

#[test]
fn sequence_window_refuses_replays_zero_and_far_jumps() {
    let mut w = SequenceWindow::default();
    assert!(!w.accept(0));
    assert!(w.accept(1));
    assert!(!w.accept(1));
    assert!(w.accept(3));
    assert!(w.accept(2));
    assert!(!w.accept(2));
    assert!(!w.accept(3 + 33));
    assert!(w.accept(3 + 32));
    assert!(!w.accept(3));
    assert!(w.accept(34));
}
