//! Driving a `Bmc` engine directly (no sockets): a permissive chassis and a scripted handshake.

use std::sync::Arc;
use std::time::Duration;

use metal_sim::ipmi::command::{BootFlags, Chassis, ChassisControl, DeviceIdentity, Refusal};
use metal_sim::ipmi::crypto::{AuthAlgorithm, CipherSuite, Handshake, SessionKeys};
use metal_sim::ipmi::message::{Request, Response};
use metal_sim::ipmi::packet::{self, Datagram, PayloadType, V20Header};
use metal_sim::ipmi::session::{Privilege, SessionPolicy, User, algorithm_record};
use metal_sim::ipmi::{Bmc, BmcConfig, Counters};

/// A chassis that accepts everything: the engine, not the machine, is under test.
#[derive(Default)]
pub struct Accepting {
    pub on: bool,
    pub flags: BootFlags,
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

/// A BMC with user admin/password (Administrator) and default policy, plus its counters.
pub fn bmc() -> (Bmc, Arc<Counters>) {
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
    (Bmc::new(config, counters.clone()), counters)
}

fn payload_of(answer: &[u8]) -> Vec<u8> {
    match packet::decode(answer) {
        Ok(Datagram::V20(p)) => p.payload.to_vec(),
        other => panic!("expected an RMCP+ answer, got {other:?}"),
    }
}

/// The console side of an open session.
pub struct Console {
    pub bmc_id: u32,
    pub keys: SessionKeys,
    pub sequence: u32,
    pub rq_seq: u8,
}

impl Console {
    /// A signed and encrypted request with the next sequence number.
    pub fn packet(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Vec<u8> {
        self.sequence += 1;
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        let msg = Request::new(netfn, cmd, self.rq_seq, data.to_vec()).encode();
        let h = V20Header {
            payload_type: PayloadType::Ipmi,
            session_id: self.bmc_id,
            sequence: self.sequence,
            encrypted: true,
        };
        packet::encode_v20(
            h,
            &self.keys.encrypt(&msg, [self.sequence as u8; 16]),
            Some(&self.keys),
        )
    }

    /// Verifies, decrypts and decodes an answer.
    pub fn response(&self, answer: &[u8]) -> Response {
        let Ok(Datagram::V20(p)) = packet::decode(answer) else {
            panic!("not RMCP+")
        };
        let (signed, code) = p.signed_parts(16).expect("trailer");
        self.keys
            .verify(signed, code)
            .expect("BMC signature verifies");
        Response::decode(&self.keys.decrypt(p.payload).expect("decrypts"))
            .expect("response decodes")
    }
}

/// Completes a suite-17 handshake at `now`; returns the console side.
pub fn open_session(bmc: &mut Bmc, chassis: &mut Accepting, now: Duration) -> Console {
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
        &bmc.handle(&setup(PayloadType::OpenSessionRequest, &open), now, chassis)
            .unwrap(),
    );
    let id = u32::from_le_bytes(r[8..12].try_into().unwrap());
    let mut rakp1 = vec![2, 0, 0, 0];
    rakp1.extend(id.to_le_bytes());
    rakp1.extend([0x33; 16]);
    rakp1.extend([0x14, 0, 0, 5]);
    rakp1.extend(b"admin");
    let r2 = payload_of(
        &bmc.handle(&setup(PayloadType::Rakp1, &rakp1), now, chassis)
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
        &bmc.handle(&setup(PayloadType::Rakp3, &rakp3), now, chassis)
            .unwrap(),
    );
    assert_eq!(r4[1], 0, "handshake refused");
    let sik = hs.sik(AuthAlgorithm::HmacSha256, b"password");
    Console {
        bmc_id: id,
        keys: SessionKeys::derive(CipherSuite::by_id(17).unwrap(), &sik),
        sequence: 0,
        rq_seq: 0,
    }
}
