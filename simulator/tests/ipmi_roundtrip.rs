//! Our RMCP+ client against our fake BMC over real loopback UDP, checked against the machine's
//! ground truth.

mod ipmi_fixture;

use std::time::Duration;

use ipmi_fixture::{Bmcs, fleet_yaml};
use metal_sim::ipmi::command::{ChassisControl, boot_device};
use metal_sim::ipmi::packet::{self, ASF_PRESENCE_PING, ASF_PRESENCE_PONG, Datagram};
use metal_sim::ipmi::session::{SessionPolicy, algorithm_record, status};
use metal_sim::ipmi::{Client, ClientConfig, ClientError, IpmiSettings};
use metal_sim::machine::{BootMode, BootSource, OverrideMode, PowerState};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::net::UdpSocket;

fn config(b: &Bmcs, i: usize, suite: u8, password: &str) -> ClientConfig {
    let mut c = ClientConfig::new(b.addrs[i], "admin", password);
    c.cipher_suite = suite;
    c.timeout = Duration::from_millis(300);
    c
}

async fn client(b: &Bmcs, i: usize, suite: u8) -> Client {
    let mut c = Client::new(
        config(b, i, suite, "password"),
        ChaCha8Rng::seed_from_u64(u64::from(suite)),
    )
    .await
    .unwrap();
    c.open_session().await.unwrap();
    c
}

#[tokio::test]
async fn power_on_and_off_with_suites_3_and_17_change_the_machine() {
    let b = Bmcs::start(2).await;
    for (i, suite) in [(0, 3u8), (1, 17u8)] {
        let mut c = client(&b, i, suite).await;
        assert!(!c.power_status().await.unwrap());
        c.chassis_control(ChassisControl::PowerUp).await.unwrap();
        b.wait_for(i, "on", |v| v.power == PowerState::On).await;
        assert!(c.power_status().await.unwrap());
        c.chassis_control(ChassisControl::PowerDown).await.unwrap();
        b.wait_for(i, "off", |v| v.power == PowerState::Off).await;
        assert!(!c.power_status().await.unwrap());
        c.close().await.unwrap();
    }
    assert_eq!(b.counters[0].malformed(), 0);
    assert_eq!(b.counters[1].rejected(), 0);
}

#[tokio::test]
async fn cycle_reset_and_soft_shutdown_reach_the_machine() {
    let b = Bmcs::start(1).await;
    let mut c = client(&b, 0, 17).await;
    // Power cycle of a machine that is off is refused, as the machine refuses it.
    let err = c
        .chassis_control(ChassisControl::PowerCycle)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Completion { code: 0xD5, .. }),
        "{err}"
    );
    c.chassis_control(ChassisControl::PowerUp).await.unwrap();
    b.wait_for(0, "on", |v| v.power == PowerState::On).await;
    let boots = b.view(0).last_boot.map(|r| r.at);
    c.chassis_control(ChassisControl::HardReset).await.unwrap();
    b.wait_for(0, "rebooted by reset", |v| {
        v.power == PowerState::On && v.last_boot.as_ref().map(|r| r.at) != boots
    })
    .await;
    let boots = b.view(0).last_boot.map(|r| r.at);
    c.chassis_control(ChassisControl::PowerCycle).await.unwrap();
    b.wait_for(0, "rebooted by cycle", |v| {
        v.power == PowerState::On && v.last_boot.as_ref().map(|r| r.at) != boots
    })
    .await;
    c.chassis_control(ChassisControl::SoftShutdown)
        .await
        .unwrap();
    b.wait_for(0, "off after ACPI shutdown", |v| v.power == PowerState::Off)
        .await;
}

#[tokio::test]
async fn boot_device_with_persistence_and_efi_is_honoured_and_read_back() {
    let b = Bmcs::start(1).await;
    let mut c = client(&b, 0, 3).await;
    c.set_boot_device(boot_device::PXE, true, true)
        .await
        .unwrap();
    let f = c.boot_flags().await.unwrap();
    assert!(f.valid && f.persistent && f.efi);
    assert_eq!(f.device, boot_device::PXE);
    let v = b.view(0);
    assert_eq!(
        (v.boot_override.target, v.boot_override.mode, v.boot_mode),
        (BootSource::Pxe, OverrideMode::Continuous, BootMode::Uefi)
    );

    c.set_boot_device(boot_device::CD, false, false)
        .await
        .unwrap();
    let v = b.view(0);
    assert_eq!(
        (v.boot_override.target, v.boot_override.mode, v.boot_mode),
        (BootSource::Cd, OverrideMode::Once, BootMode::Legacy)
    );
    let f = c.boot_flags().await.unwrap();
    assert!(f.valid && !f.persistent && !f.efi);
    assert_eq!(f.device, boot_device::CD);
}

#[tokio::test]
async fn a_next_boot_override_is_cleared_by_the_boot_it_chose() {
    let b = Bmcs::start(1).await;
    let mut c = client(&b, 0, 17).await;
    c.set_boot_device(boot_device::PXE, false, true)
        .await
        .unwrap();
    c.chassis_control(ChassisControl::PowerUp).await.unwrap();
    b.wait_for(0, "booted", |v| v.last_boot.is_some()).await;
    let f = c.boot_flags().await.unwrap();
    assert!(
        !f.valid,
        "a once-only override must be spent by the boot: {f:?}"
    );
}

#[tokio::test]
async fn wrong_password_refuses_the_session() {
    let b = Bmcs::start(1).await;
    for suite in [3, 17] {
        let mut c = Client::new(
            config(&b, 0, suite, "not-the-password"),
            ChaCha8Rng::seed_from_u64(9),
        )
        .await
        .unwrap();
        let err = c.open_session().await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Authentication {
                    stage: "RAKP 2",
                    ..
                }
            ),
            "{err}"
        );
        assert!(!c.is_open());
    }
    let mut c = Client::new(config(&b, 0, 17, "password"), ChaCha8Rng::seed_from_u64(10))
        .await
        .unwrap();
    c.open_session().await.unwrap();
    assert!(c.power_status().await.is_ok());
}

#[tokio::test]
async fn unknown_user_is_refused_with_unauthorized_name() {
    let b = Bmcs::start(1).await;
    let mut cfg = config(&b, 0, 17, "password");
    cfg.username = "mallory".into();
    let mut c = Client::new(cfg, ChaCha8Rng::seed_from_u64(11))
        .await
        .unwrap();
    let err = c.open_session().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Refused {
                stage: "RAKP 1",
                status: 0x0D,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn device_id_and_guid_describe_the_host() {
    let b = Bmcs::start(1).await;
    let mut c = client(&b, 0, 17).await;
    let id = c.device_id().await.unwrap();
    assert_eq!(id[4], 0x02, "IPMI 2.0");
    let guid = c.system_guid().await.unwrap();
    let uuid = b.world.hosts()[0].profile.system.uuid;
    assert_eq!(guid, metal_sim::ipmi::bmc::guid_wire_order(&uuid));
}

#[tokio::test]
async fn closed_sessions_no_longer_answer() {
    let b = Bmcs::start(1).await;
    let mut c = client(&b, 0, 3).await;
    c.close().await.unwrap();
    assert!(matches!(
        c.power_status().await,
        Err(ClientError::NoSession(_))
    ));
}

#[tokio::test]
async fn asf_presence_ping_gets_a_pong() {
    let b = Bmcs::start(1).await;
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.send_to(
        &packet::encode_asf(ASF_PRESENCE_PING, 0x33, &[]),
        b.addrs[0],
    )
    .await
    .unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let Ok(Datagram::Asf(m)) = packet::decode(&buf[..n]) else {
        panic!("no ASF pong")
    };
    assert_eq!((m.message_type, m.tag), (ASF_PRESENCE_PONG, 0x33));
}

#[tokio::test]
async fn malformed_datagrams_are_dropped_counted_and_the_bmc_keeps_serving() {
    let b = Bmcs::start(1).await;
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let junk: [&[u8]; 4] = [
        b"",
        b"\x06\x00\xff",
        b"hello world",
        b"\x06\x00\xff\x07\x06\x00\x01\x02",
    ];
    for j in junk {
        s.send_to(j, b.addrs[0]).await.unwrap();
    }
    let mut c = client(&b, 0, 17).await;
    assert!(!c.power_status().await.unwrap());
    assert_eq!(b.counters[0].malformed(), 4);
}

#[tokio::test]
async fn per_address_layout_serves_each_bmc_on_its_own_loopback_address() {
    let b = Bmcs::start_yaml(
        &fleet_yaml(3, 0.01, ""),
        &["127.0.3.1", "127.0.3.2", "127.0.3.3"],
    )
    .await;
    for i in 0..3 {
        assert_eq!(b.addrs[i].ip().to_string(), format!("127.0.3.{}", i + 1));
        let mut c = client(&b, i, 17).await;
        c.chassis_control(ChassisControl::PowerUp).await.unwrap();
    }
    for i in 0..3 {
        b.wait_for(i, "on", |v| v.power == PowerState::On).await;
    }
}

#[tokio::test]
async fn total_packet_loss_makes_the_client_time_out_after_bounded_retries() {
    let faulty = "    faults: {ipmi_packet_loss: 1.0}\n";
    let b = Bmcs::start_yaml(&fleet_yaml(1, 0.01, faulty), &["127.0.0.1"]).await;
    let mut cfg = config(&b, 0, 17, "password");
    cfg.timeout = Duration::from_millis(100);
    cfg.retries = 2;
    let mut c = Client::new(cfg, ChaCha8Rng::seed_from_u64(12))
        .await
        .unwrap();
    let err = c.open_session().await.unwrap_err();
    assert!(
        matches!(err, ClientError::Timeout { attempts: 3, .. }),
        "{err}"
    );
    assert_eq!(b.counters[0].answered(), 0);
}

#[tokio::test]
async fn power_ack_without_effect_answers_success_but_leaves_the_machine_off() {
    let faulty = "    faults: {power_ack_no_effect_rate: 1.0}\n";
    let b = Bmcs::start_yaml(&fleet_yaml(1, 0.01, faulty), &["127.0.0.1"]).await;
    let mut c = client(&b, 0, 17).await;
    c.chassis_control(ChassisControl::PowerUp).await.unwrap();
    // The BMC answers after the fault has decided, so by now the machine is as the command
    // left it: off with no transition started, and so off for good. Waiting would add nothing.
    assert_eq!(b.world.hosts()[0].faults_injected(), 1, "the fault decided");
    let view = b.view(0);
    assert_eq!(view.power, PowerState::Off);
    assert_eq!(view.transition_done_at, None, "no power-on under way");
    assert!(!c.power_status().await.unwrap());
}

#[tokio::test]
async fn latency_fault_delays_every_answer() {
    let faulty = "    faults: {latency: {min: 150ms, max: 150ms}}\n";
    let b = Bmcs::start_yaml(&fleet_yaml(1, 0.01, faulty), &["127.0.0.1"]).await;
    let mut cfg = config(&b, 0, 17, "password");
    cfg.timeout = Duration::from_secs(2);
    let mut c = Client::new(cfg, ChaCha8Rng::seed_from_u64(13))
        .await
        .unwrap();
    c.open_session().await.unwrap();
    let start = std::time::Instant::now();
    assert!(!c.power_status().await.unwrap());
    assert!(
        start.elapsed() >= Duration::from_millis(140),
        "answered after {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_window_silences_the_bmc() {
    let faulty = "    faults: {unreachable: [{from: 0s}]}\n";
    let b = Bmcs::start_yaml(&fleet_yaml(1, 0.01, faulty), &["127.0.0.1"]).await;
    let mut cfg = config(&b, 0, 3, "password");
    cfg.timeout = Duration::from_millis(100);
    cfg.retries = 1;
    let mut c = Client::new(cfg, ChaCha8Rng::seed_from_u64(14))
        .await
        .unwrap();
    assert!(matches!(
        c.open_session().await,
        Err(ClientError::Timeout { attempts: 2, .. })
    ));
    assert_eq!(b.counters[0].answered(), 0);
}

#[tokio::test]
async fn every_offered_suite_opens_a_session_with_our_client() {
    // Suites 1 and 15 (no integrity) are offered only when the BMC opts in.
    let settings = IpmiSettings {
        policy: SessionPolicy::allowing_suites_without_integrity(),
    };
    let b = Bmcs::start_with(1, settings).await;
    for suite in [1u8, 2, 3, 15, 16, 17] {
        let mut c = Client::new(
            config(&b, 0, suite, "password"),
            ChaCha8Rng::seed_from_u64(u64::from(suite)),
        )
        .await
        .unwrap();
        c.open_session()
            .await
            .unwrap_or_else(|e| panic!("suite {suite}: {e}"));
        assert!(!c.power_status().await.unwrap(), "suite {suite}");
        c.close().await.unwrap();
    }
    let mut c = Client::new(config(&b, 0, 0, "password"), ChaCha8Rng::seed_from_u64(0))
        .await
        .unwrap();
    let err = c.open_session().await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Refused {
                stage: "Open Session",
                status: 0x11,
                ..
            }
        ),
        "suite 0 is not offered: {err}"
    );
}

#[tokio::test]
async fn a_default_bmc_refuses_suites_without_integrity_at_open_session() {
    let b = Bmcs::start(1).await;
    for suite in [0u8, 1, 15] {
        let mut c = Client::new(
            config(&b, 0, suite, "password"),
            ChaCha8Rng::seed_from_u64(u64::from(suite)),
        )
        .await
        .unwrap();
        let err = c.open_session().await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Refused {
                    stage: "Open Session",
                    status: 0x11,
                    ..
                }
            ),
            "suite {suite}: {err}"
        );
    }
}

#[tokio::test]
async fn thirty_two_open_sessions_from_one_source_leave_room_for_a_console_from_another() {
    let b = Bmcs::start(1).await;
    // The spoofer sends from 127.0.0.2; our client sends from 127.0.0.1.
    let spoofer = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    let mut open = vec![0, 4, 0, 0];
    open.extend(0x5151_5151u32.to_le_bytes());
    open.extend(algorithm_record(0, 3));
    open.extend(algorithm_record(1, 4));
    open.extend(algorithm_record(2, 1));
    let datagram = packet::encode_v20(
        packet::V20Header {
            payload_type: packet::PayloadType::OpenSessionRequest,
            session_id: 0,
            sequence: 0,
            encrypted: false,
        },
        &open,
        None,
    );
    let mut statuses = Vec::new();
    let mut buf = [0u8; 512];
    for _ in 0..32 {
        spoofer.send_to(&datagram, b.addrs[0]).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(2), spoofer.recv(&mut buf))
            .await
            .expect("the BMC answered")
            .unwrap();
        let Ok(Datagram::V20(p)) = packet::decode(&buf[..n]) else {
            panic!("not an RMCP+ answer")
        };
        statuses.push(p.payload[1]);
    }
    let quota = SessionPolicy::default().max_half_open_per_source;
    assert_eq!(
        statuses.iter().filter(|s| **s == status::OK).count(),
        quota,
        "{statuses:?}"
    );
    assert!(statuses[quota..].iter().all(|s| *s == status::NO_RESOURCES));
    // A real console from another source still gets a session.
    let mut c = client(&b, 0, 17).await;
    assert!(!c.power_status().await.unwrap());
    c.close().await.unwrap();
}
