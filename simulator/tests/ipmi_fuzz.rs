//! Arbitrary bytes never panic the BMC engine, and every datagram it does not answer is counted.

use std::sync::Arc;
use std::time::Duration;

use metal_sim::ipmi::command::{BootFlags, Chassis, ChassisControl, DeviceIdentity, Refusal};
use metal_sim::ipmi::crypto::{AuthAlgorithm, Handshake};
use metal_sim::ipmi::packet::{self, Datagram, PayloadType, V20Header};
use metal_sim::ipmi::session::{Privilege, SessionPolicy, User, algorithm_record};
use metal_sim::ipmi::{Bmc, BmcConfig, Counters};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A chassis that accepts everything: the engine, not the machine, is under test here.
#[derive(Default)]
struct Accepting {
    on: bool,
    flags: BootFlags,
}

impl Chassis for Accepting {
    fn power_is_on(&mut self) -> bool {
        self.on
    }
    fn control(&mut self, action: ChassisControl) -> Result<(), Refusal> {
        self.on = action == ChassisControl::PowerUp;
        Ok(())
    }
    fn boot_flags(&mut self) -> BootFlags {
        self.flags
    }
    fn set_boot_flags(&mut self, flags: BootFlags) -> Result<(), Refusal> {
        self.flags = flags;
        Ok(())
    }
}

fn bmc() -> (Bmc, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let config = BmcConfig {
        users: vec![User {
            name: "admin".into(),
            password: "password".into(),
            max_privilege: Privilege::Administrator,
        }],
        guid: [0x5A; 16],
        identity: DeviceIdentity::default(),
        policy: SessionPolicy::default(),
    };
    (
        Bmc::new(config, ChaCha8Rng::seed_from_u64(1), counters.clone()),
        counters,
    )
}

fn payload_of(answer: &[u8]) -> Vec<u8> {
    match packet::decode(answer) {
        Ok(Datagram::V20(p)) => p.payload.to_vec(),
        other => panic!("expected an RMCP+ answer, got {other:?}"),
    }
}

/// Completes a suite-17 handshake through the engine; returns the BMC session ID.
fn open_session(bmc: &mut Bmc, chassis: &mut Accepting) -> u32 {
    let setup = |pt, payload: &[u8]| {
        packet::encode_v20(
            V20Header {
                payload_type: pt,
                session_id: 0,
                sequence: 0,
                encrypted: false,
            },
            payload,
            None,
        )
    };
    let mut open = vec![1, 4, 0, 0];
    open.extend(0x1234u32.to_le_bytes());
    open.extend(algorithm_record(0, 3));
    open.extend(algorithm_record(1, 4));
    open.extend(algorithm_record(2, 1));
    let r = payload_of(
        &bmc.handle(
            &setup(PayloadType::OpenSessionRequest, &open),
            Duration::ZERO,
            chassis,
        )
        .unwrap(),
    );
    let id = u32::from_le_bytes(r[8..12].try_into().unwrap());
    let mut rakp1 = vec![2, 0, 0, 0];
    rakp1.extend(id.to_le_bytes());
    rakp1.extend([0x33; 16]);
    rakp1.extend([0x14, 0, 0, 5]);
    rakp1.extend(b"admin");
    let r2 = payload_of(
        &bmc.handle(&setup(PayloadType::Rakp1, &rakp1), Duration::ZERO, chassis)
            .unwrap(),
    );
    let hs = Handshake {
        console_session_id: 0x1234,
        bmc_session_id: id,
        console_random: [0x33; 16],
        bmc_random: r2[8..24].try_into().unwrap(),
        bmc_guid: r2[24..40].try_into().unwrap(),
        role: 0x14,
        username: b"admin",
    };
    let mut rakp3 = vec![3, 0, 0, 0];
    rakp3.extend(id.to_le_bytes());
    rakp3.extend(hs.rakp3_code(AuthAlgorithm::HmacSha256, b"password"));
    let r4 = payload_of(
        &bmc.handle(&setup(PayloadType::Rakp3, &rakp3), Duration::ZERO, chassis)
            .unwrap(),
    );
    assert_eq!(r4[1], 0, "handshake refused");
    assert_eq!(bmc.active_sessions(), 1);
    id
}

fn accounted(c: &Counters) -> bool {
    use std::sync::atomic::Ordering::Relaxed;
    c.received.load(Relaxed)
        == c.answered.load(Relaxed) + c.malformed.load(Relaxed) + c.rejected.load(Relaxed)
}

fn header_prefixed() -> impl Strategy<Value = Vec<u8>> {
    let prefixes: Vec<Vec<u8>> = vec![
        vec![6, 0, 0xFF, 7, 0],                // IPMI v1.5, auth none
        vec![6, 0, 0xFF, 7, 6, 0x00],          // RMCP+ IPMI payload
        vec![6, 0, 0xFF, 7, 6, 0x10],          // Open Session Request
        vec![6, 0, 0xFF, 7, 6, 0x12],          // RAKP 1
        vec![6, 0, 0xFF, 7, 6, 0x14],          // RAKP 3
        vec![6, 0, 0xFF, 7, 6, 0xC0],          // encrypted + authenticated IPMI
        vec![6, 0, 0xFF, 6, 0, 0, 0x11, 0xBE], // ASF
    ];
    (
        proptest::sample::select(prefixes),
        proptest::collection::vec(any::<u8>(), 0..120),
    )
        .prop_map(|(mut p, tail)| {
            p.extend(tail);
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_every_drop_is_counted(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (mut bmc, counters) = bmc();
        let mut chassis = Accepting::default();
        let _ = bmc.handle(&bytes, Duration::ZERO, &mut chassis);
        prop_assert!(accounted(&counters));
    }

    #[test]
    fn garbage_behind_valid_headers_never_panics_and_is_counted(bytes in header_prefixed()) {
        let (mut bmc, counters) = bmc();
        let mut chassis = Accepting::default();
        let answer = bmc.handle(&bytes, Duration::ZERO, &mut chassis);
        prop_assert!(accounted(&counters));
        if answer.is_none() {
            prop_assert!(counters.malformed() + counters.rejected() == 1);
        }
    }

    #[test]
    fn forged_packets_inside_a_live_session_are_dropped_and_counted(
        flags in prop_oneof![Just(0xC0u8), Just(0x40), Just(0x80), Just(0x00)],
        seq in any::<u32>(),
        body in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let (mut bmc, counters) = bmc();
        let mut chassis = Accepting::default();
        let id = open_session(&mut bmc, &mut chassis);
        let before = counters.malformed() + counters.rejected();
        let mut pkt = vec![6, 0, 0xFF, 7, 6, flags];
        pkt.extend(id.to_le_bytes());
        pkt.extend(seq.to_le_bytes());
        pkt.extend((body.len() as u16).to_le_bytes());
        pkt.extend(&body);
        // Without the session keys nothing can be answered; the session survives.
        prop_assert!(bmc.handle(&pkt, Duration::ZERO, &mut chassis).is_none());
        prop_assert_eq!(counters.malformed() + counters.rejected(), before + 1);
        prop_assert!(accounted(&counters));
        prop_assert_eq!(bmc.active_sessions(), 1);
        prop_assert!(!chassis.on);
    }
}

#[test]
fn decoder_rejects_every_truncation_of_a_valid_packet_without_panicking() {
    let h = V20Header {
        payload_type: PayloadType::OpenSessionRequest,
        session_id: 0,
        sequence: 0,
        encrypted: false,
    };
    let full = packet::encode_v20(h, &[7; 32], None);
    for n in 0..full.len() {
        assert!(
            packet::decode(&full[..n]).is_err(),
            "prefix of {n} bytes decoded"
        );
    }
    assert!(packet::decode(&full).is_ok());
}
