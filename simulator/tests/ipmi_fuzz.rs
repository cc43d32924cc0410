//! Arbitrary bytes never panic the BMC engine, and every datagram it does not answer is counted.

mod ipmi_fixture;

use std::time::Duration;

use ipmi_fixture::engine::{Accepting, bmc, open_session};
use metal_sim::ipmi::Counters;
use metal_sim::ipmi::packet::{self, PayloadType, V20Header};
use proptest::prelude::*;

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
        let id = open_session(&mut bmc, &mut chassis, Duration::ZERO).bmc_id;
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
