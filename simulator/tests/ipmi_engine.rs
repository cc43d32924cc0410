//! The BMC engine's session rules, driven datagram by datagram without sockets: sequence-number
//! window, privilege levels, idle timeout, close, and answers to commands it does not implement.

mod ipmi_fixture;

use std::time::Duration;

use ipmi_fixture::engine::{Accepting, bmc, open_session};
use metal_sim::ipmi::message::{Request, Response, completion, netfn};
use metal_sim::ipmi::packet::{self, Datagram};

const T0: Duration = Duration::from_secs(1);

#[test]
fn a_replayed_packet_is_rejected_and_counted() {
    let (mut b, counters) = bmc();
    let mut chassis = Accepting::default();
    let mut console = open_session(&mut b, &mut chassis, T0);
    let pkt = console.packet(netfn::CHASSIS, 0x01, &[]);
    let r = console.response(&b.handle(&pkt, T0, &mut chassis).expect("answered"));
    assert_eq!(r.completion, completion::OK);
    assert!(b.handle(&pkt, T0, &mut chassis).is_none());
    assert_eq!(counters.rejected(), 1);
}

#[test]
fn sessions_start_at_user_level_and_must_raise_privilege_to_control_power() {
    let (mut b, _) = bmc();
    let mut chassis = Accepting::default();
    let mut c = open_session(&mut b, &mut chassis, T0);
    let pkt = c.packet(netfn::CHASSIS, 0x02, &[1]);
    assert_eq!(
        c.response(&b.handle(&pkt, T0, &mut chassis).unwrap())
            .completion,
        completion::INSUFFICIENT_PRIVILEGE
    );
    assert!(!chassis.on);
    let pkt = c.packet(netfn::APP, 0x3B, &[4]);
    let r = c.response(&b.handle(&pkt, T0, &mut chassis).unwrap());
    assert_eq!((r.completion, r.data), (completion::OK, vec![4]));
    let pkt = c.packet(netfn::CHASSIS, 0x02, &[1]);
    assert_eq!(
        c.response(&b.handle(&pkt, T0, &mut chassis).unwrap())
            .completion,
        completion::OK
    );
    assert!(chassis.on);
}

#[test]
fn privilege_above_the_session_limit_is_refused() {
    let (mut b, _) = bmc();
    let mut chassis = Accepting::default();
    let mut c = open_session(&mut b, &mut chassis, T0);
    // OEM (5) is above the Administrator limit of this session.
    let pkt = c.packet(netfn::APP, 0x3B, &[5]);
    assert_eq!(
        c.response(&b.handle(&pkt, T0, &mut chassis).unwrap())
            .completion,
        completion::INVALID_DATA_FIELD
    );
    let pkt = c.packet(netfn::APP, 0x3B, &[0]);
    let r = c.response(&b.handle(&pkt, T0, &mut chassis).unwrap());
    assert_eq!(r.data, [2], "still User");
}

#[test]
fn an_idle_session_expires_after_the_timeout() {
    let (mut b, counters) = bmc();
    let mut chassis = Accepting::default();
    let mut c = open_session(&mut b, &mut chassis, T0);
    let pkt = c.packet(netfn::CHASSIS, 0x01, &[]);
    assert!(
        b.handle(&pkt, T0 + Duration::from_secs(59), &mut chassis)
            .is_some()
    );
    let pkt = c.packet(netfn::CHASSIS, 0x01, &[]);
    assert!(
        b.handle(&pkt, T0 + Duration::from_secs(59 + 61), &mut chassis)
            .is_none()
    );
    assert_eq!(counters.rejected(), 1);
    assert_eq!(b.active_sessions(), 0);
}

#[test]
fn close_session_answers_then_forgets_the_session() {
    let (mut b, _) = bmc();
    let mut chassis = Accepting::default();
    let mut c = open_session(&mut b, &mut chassis, T0);
    let pkt = c.packet(netfn::APP, 0x3C, &c.bmc_id.to_le_bytes());
    assert_eq!(
        c.response(&b.handle(&pkt, T0, &mut chassis).unwrap())
            .completion,
        completion::OK
    );
    assert_eq!(b.active_sessions(), 0);
    let pkt = c.packet(netfn::CHASSIS, 0x01, &[]);
    assert!(b.handle(&pkt, T0, &mut chassis).is_none());
}

#[test]
fn commands_the_bmc_does_not_implement_answer_invalid_command() {
    let (mut b, _) = bmc();
    let mut chassis = Accepting::default();
    let mut c = open_session(&mut b, &mut chassis, T0);
    // Get SDR Repository Info (Storage 0x20), Get SEL Info (Storage 0x40), Get Sensor Reading (S/E 0x2D).
    for (nf, cmd) in [(0x0A, 0x20), (0x0A, 0x40), (0x04, 0x2D), (0x06, 0x02)] {
        let pkt = c.packet(nf, cmd, &[]);
        let r = c.response(&b.handle(&pkt, T0, &mut chassis).unwrap());
        assert_eq!(
            r.completion,
            completion::INVALID_COMMAND,
            "netfn {nf:#x} cmd {cmd:#x}"
        );
    }
}

#[test]
fn channel_cipher_suites_list_17_and_3_before_a_session() {
    let (mut b, _) = bmc();
    let mut chassis = Accepting::default();
    let req = Request::new(netfn::APP, 0x54, 1, vec![0x0E, 0x00, 0x80]);
    let answer = b
        .handle(&packet::encode_v15(0, 0, &req.encode()), T0, &mut chassis)
        .unwrap();
    let Ok(Datagram::V15(p)) = packet::decode(&answer) else {
        panic!("not v1.5")
    };
    let r = Response::decode(p.message).unwrap();
    assert_eq!(r.completion, 0);
    assert_eq!(
        &r.data[1..11],
        &[0xC0, 17, 0x03, 0x44, 0x81, 0xC0, 3, 0x01, 0x41, 0x81]
    );
}

#[test]
fn channel_authentication_capabilities_announce_ipmi_2_0_only() {
    let (mut b, _) = bmc();
    let mut chassis = Accepting::default();
    let req = Request::new(netfn::APP, 0x38, 1, vec![0x8E, 0x04]);
    let answer = b
        .handle(&packet::encode_v15(0, 0, &req.encode()), T0, &mut chassis)
        .unwrap();
    let Ok(Datagram::V15(p)) = packet::decode(&answer) else {
        panic!("not v1.5")
    };
    let r = Response::decode(p.message).unwrap();
    assert_eq!(r.completion, 0);
    assert_eq!(r.data[1] & 0x80, 0x80, "extended capabilities");
    assert_eq!(r.data[2] & 0x04, 0x04, "non-null user names");
    assert_eq!(r.data[3], 0x02, "IPMI 2.0 only");
}

#[test]
fn self_test_passes_and_channel_info_describes_a_lan_channel_with_its_sessions() {
    let (mut b, _) = bmc();
    let mut chassis = Accepting::default();
    let mut c = open_session(&mut b, &mut chassis, T0);
    let pkt = c.packet(netfn::APP, 0x04, &[]);
    let r = c.response(&b.handle(&pkt, T0, &mut chassis).unwrap());
    assert_eq!((r.completion, r.data), (0, vec![0x55, 0x00]));
    let pkt = c.packet(netfn::APP, 0x42, &[0x0E]);
    let r = c.response(&b.handle(&pkt, T0, &mut chassis).unwrap());
    assert_eq!(r.completion, 0);
    assert_eq!(&r.data[..4], &[0x01, 0x04, 0x01, 0x81]);
    let pkt = c.packet(netfn::APP, 0x41, &[0x01, 0x80]);
    let r = c.response(&b.handle(&pkt, T0, &mut chassis).unwrap());
    assert_eq!((r.completion, r.data), (0, vec![0x22, 0x04]));
}

#[test]
fn two_bmcs_built_alike_give_different_session_ids() {
    // Session ids (and the RAKP random numbers) are secrets from the OS, not a seeded stream: two
    // BMCs with the same configuration must not hand out the same ones.
    let (mut first, _) = bmc();
    let (mut second, _) = bmc();
    let mut chassis = Accepting::default();
    let a = open_session(&mut first, &mut chassis, T0);
    let b = open_session(&mut second, &mut chassis, T0);
    assert_ne!(a.bmc_id, b.bmc_id);
}
