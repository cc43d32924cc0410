//! One simulated BMC's protocol engine: datagram in, datagram out. It routes ASF pings, pre-session
//! queries, the RMCP+ handshake and in-session commands, enforces integrity, confidentiality and
//! sequence numbers, and counts what it drops.
//!
//! Pure apart from its seeded RNG: `now` comes in, the machine is behind [`Chassis`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tracing::debug;

use super::command::{self, BootOptionsState, Chassis, Context, DeviceIdentity, app_cmd};
use super::crypto::{CipherSuite, ConfidentialityAlgorithm};
use super::message::{Request, completion, netfn};
use super::packet::{
    self, ASF_PRESENCE_PING, AUTH_TYPE_NONE, Datagram, DecodeError, PayloadType, V20Header,
    V20Packet,
};
use super::session::{Privilege, SessionPolicy, SessionStage, SessionTable, User};

/// Per-BMC traffic counters, shared with tests and the control API.
#[derive(Debug, Default)]
pub struct Counters {
    /// Datagrams received.
    pub received: AtomicU64,
    /// Datagrams answered.
    pub answered: AtomicU64,
    /// Datagrams dropped because they could not be decoded, verified or decrypted.
    pub malformed: AtomicU64,
    /// Well-formed datagrams dropped by policy (unknown session, replayed sequence, wrong stage…).
    pub rejected: AtomicU64,
    /// Datagrams dropped or delayed by an injected fault.
    pub faulted: AtomicU64,
    /// Sessions that completed the handshake and are still open (after the last datagram).
    pub active_sessions: AtomicU64,
}

impl Counters {
    /// A snapshot of the malformed count.
    pub fn malformed(&self) -> u64 {
        self.malformed.load(Ordering::Relaxed)
    }

    /// A snapshot of the rejected count.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }

    /// A snapshot of the number of open sessions.
    pub fn active_sessions(&self) -> u64 {
        self.active_sessions.load(Ordering::Relaxed)
    }

    /// A snapshot of the answered count.
    pub fn answered(&self) -> u64 {
        self.answered.load(Ordering::Relaxed)
    }
}

/// Everything that configures one BMC.
#[derive(Clone, Debug)]
pub struct BmcConfig {
    /// Users allowed to log in.
    pub users: Vec<User>,
    /// System GUID in wire order.
    pub guid: [u8; 16],
    /// Get Device ID answer.
    pub identity: DeviceIdentity,
    /// Session policy (cipher suites, timeouts, limits).
    pub policy: SessionPolicy,
}

/// Converts a UUID to the IPMI wire order of a GUID (SMBIOS order: first three fields little-endian).
pub fn guid_wire_order(uuid: &uuid::Uuid) -> [u8; 16] {
    let b = uuid.as_bytes();
    [
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
        b[14], b[15],
    ]
}

/// Why a datagram got no answer.
enum Discard {
    Malformed(&'static str),
    Rejected(&'static str),
    Quiet,
}

impl From<DecodeError> for Discard {
    fn from(_: DecodeError) -> Self {
        Discard::Malformed("decode")
    }
}

/// One BMC: sessions, boot option state, identity and counters.
#[derive(Debug)]
pub struct Bmc {
    sessions: SessionTable,
    identity: DeviceIdentity,
    guid: [u8; 16],
    boot: BootOptionsState,
    rng: metal_tls::secret::OsRng,
    counters: Arc<Counters>,
}

impl Bmc {
    /// A BMC with shared counters; its session IDs, RAKP random numbers and IVs come from the
    /// operating system's random generator (secrets, never the fleet's seed).
    pub fn new(config: BmcConfig, counters: Arc<Counters>) -> Self {
        Self {
            sessions: SessionTable::new(config.policy, config.users, config.guid),
            identity: config.identity,
            guid: config.guid,
            boot: BootOptionsState::default(),
            rng: metal_tls::secret::os_rng(),
            counters,
        }
    }

    /// The shared counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Sessions that completed the handshake and have not expired or closed.
    pub fn active_sessions(&self) -> usize {
        self.sessions.active_count()
    }

    /// Handles one datagram from a console on the loopback address at `now` (time since the
    /// server started); returns the answer, if any. [`Bmc::handle_from`] names the source.
    pub fn handle(
        &mut self,
        datagram: &[u8],
        now: Duration,
        chassis: &mut dyn Chassis,
    ) -> Option<Vec<u8>> {
        self.handle_from(
            std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
            datagram,
            now,
            chassis,
        )
    }

    /// Handles one datagram from `source` at `now` (time since the server started); returns the
    /// answer, if any. The source counts against the per-source quota of half-open sessions.
    pub fn handle_from(
        &mut self,
        source: std::net::IpAddr,
        datagram: &[u8],
        now: Duration,
        chassis: &mut dyn Chassis,
    ) -> Option<Vec<u8>> {
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        let result = self.dispatch(source, datagram, now, chassis);
        self.counters
            .active_sessions
            .store(self.sessions.active_count() as u64, Ordering::Relaxed);
        match result {
            Ok(answer) => {
                self.counters.answered.fetch_add(1, Ordering::Relaxed);
                Some(answer)
            }
            Err(Discard::Malformed(what)) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                debug!(
                    what,
                    len = datagram.len(),
                    "dropped malformed IPMI datagram"
                );
                None
            }
            Err(Discard::Rejected(why)) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                debug!(why, "dropped IPMI datagram");
                None
            }
            Err(Discard::Quiet) => None,
        }
    }

    fn dispatch(
        &mut self,
        source: std::net::IpAddr,
        datagram: &[u8],
        now: Duration,
        chassis: &mut dyn Chassis,
    ) -> Result<Vec<u8>, Discard> {
        match packet::decode(datagram)? {
            Datagram::Asf(m) if m.message_type == ASF_PRESENCE_PING => {
                Ok(packet::presence_pong(m.tag))
            }
            Datagram::Asf(_) => Err(Discard::Rejected("ASF message other than ping")),
            Datagram::V15(p) => {
                if p.auth_type != AUTH_TYPE_NONE || p.session_id != 0 {
                    return Err(Discard::Rejected("IPMI v1.5 sessions are not offered"));
                }
                let req = Request::decode(p.message)?;
                let (cc, data) = self
                    .pre_session(&req)
                    .ok_or(Discard::Rejected("command needs a session"))?;
                Ok(packet::encode_v15(0, 0, &req.respond(cc, &data)))
            }
            Datagram::V20(p) => self.rmcp_plus(source, &p, now, chassis),
        }
    }

    fn rmcp_plus(
        &mut self,
        source: std::net::IpAddr,
        p: &V20Packet<'_>,
        now: Duration,
        chassis: &mut dyn Chassis,
    ) -> Result<Vec<u8>, Discard> {
        let setup = |payload_type, reply: Option<super::session::Reply>| {
            let reply = reply.ok_or(Discard::Malformed("handshake payload"))?;
            let h = V20Header {
                payload_type,
                session_id: 0,
                sequence: 0,
                encrypted: false,
            };
            Ok(packet::encode_v20(h, &reply.payload, None))
        };
        let unprotected = !p.authenticated && !p.encrypted;
        match p.payload_type {
            PayloadType::OpenSessionRequest if unprotected => {
                let r = self.sessions.open(p.payload, source, now, &mut self.rng);
                setup(PayloadType::OpenSessionResponse, r)
            }
            PayloadType::Rakp1 if unprotected => {
                let r = self.sessions.rakp1(p.payload, now, &mut self.rng);
                setup(PayloadType::Rakp2, r)
            }
            PayloadType::Rakp3 if unprotected => {
                if p.payload.len() < 8 {
                    return Err(Discard::Malformed("RAKP 3"));
                }
                match self.sessions.rakp3(p.payload, now) {
                    Some(r) => setup(PayloadType::Rakp4, Some(r)),
                    None => Err(Discard::Quiet),
                }
            }
            PayloadType::Ipmi if p.session_id == 0 => {
                if !unprotected {
                    return Err(Discard::Rejected("protected packet outside a session"));
                }
                let req = Request::decode(p.payload)?;
                let (cc, data) = self
                    .pre_session(&req)
                    .ok_or(Discard::Rejected("command needs a session"))?;
                let h = V20Header {
                    payload_type: PayloadType::Ipmi,
                    session_id: 0,
                    sequence: 0,
                    encrypted: false,
                };
                Ok(packet::encode_v20(h, &req.respond(cc, &data), None))
            }
            PayloadType::Ipmi => self.in_session(p, now, chassis),
            _ => Err(Discard::Rejected("payload type not accepted here")),
        }
    }

    fn in_session(
        &mut self,
        p: &V20Packet<'_>,
        now: Duration,
        chassis: &mut dyn Chassis,
    ) -> Result<Vec<u8>, Discard> {
        self.sessions.expire(now);
        let id = p.session_id;
        let session = self
            .sessions
            .get_mut(id)
            .ok_or(Discard::Rejected("unknown session"))?;
        let console_id = session.console_id;
        let SessionStage::Active(active) = &mut session.stage else {
            return Err(Discard::Rejected("session not active"));
        };
        let suite: CipherSuite = active.keys.suite();
        if p.authenticated != (suite.integrity.code_len() > 0) {
            return Err(Discard::Rejected("integrity flag does not match the suite"));
        }
        if p.encrypted != (suite.confidentiality != ConfidentialityAlgorithm::None) {
            return Err(Discard::Rejected(
                "encryption flag does not match the suite",
            ));
        }
        if p.authenticated {
            let (signed, code) = p.signed_parts(suite.integrity.code_len())?;
            active
                .keys
                .verify(signed, code)
                .map_err(|_| Discard::Malformed("integrity check"))?;
        }
        let plain = active
            .keys
            .decrypt(p.payload)
            .map_err(|_| Discard::Malformed("decryption"))?;
        let req = Request::decode(&plain)?;
        if !active.inbound.accept(p.sequence) {
            return Err(Discard::Rejected(
                "sequence number outside the window or replayed",
            ));
        }
        session.last_seen = now;
        let (cc, data, close) = self.session_command(id, &req, chassis);
        let Some(SessionStage::Active(active)) = self.sessions.get_mut(id).map(|s| &mut s.stage)
        else {
            return Err(Discard::Rejected("session vanished"));
        };
        let mut iv = [0u8; 16];
        rand::Rng::fill_bytes(&mut self.rng, &mut iv);
        let body = active.keys.encrypt(&req.respond(cc, &data), iv);
        let h = V20Header {
            payload_type: PayloadType::Ipmi,
            session_id: console_id,
            sequence: active.next_outbound(),
            encrypted: suite.confidentiality != ConfidentialityAlgorithm::None,
        };
        let out = packet::encode_v20(h, &body, Some(&active.keys));
        if let Some(target) = close {
            self.sessions.close(target);
        }
        Ok(out)
    }

    /// Runs an in-session command; the third value names a session to close after answering.
    fn session_command(
        &mut self,
        id: u32,
        req: &Request,
        chassis: &mut dyn Chassis,
    ) -> (u8, Vec<u8>, Option<u32>) {
        if let Some((cc, data)) = self.pre_session(req) {
            return (cc, data, None);
        }
        let Some(SessionStage::Active(active)) = self.sessions.get_mut(id).map(|s| &mut s.stage)
        else {
            return (completion::UNSPECIFIED, Vec::new(), None);
        };
        match (req.netfn, req.cmd) {
            (netfn::APP, app_cmd::SET_SESSION_PRIVILEGE) => {
                if req.data.len() != 1 {
                    return (completion::REQUEST_LENGTH_INVALID, Vec::new(), None);
                }
                let level = req.data[0] & 0x0F;
                if level == 0 {
                    return (completion::OK, vec![active.privilege as u8], None);
                }
                match Privilege::from_nibble(level) {
                    Some(p) if p <= active.max_privilege && p >= Privilege::User => {
                        active.privilege = p;
                        (completion::OK, vec![p as u8], None)
                    }
                    Some(_) => (completion::SPECIFIC_81, Vec::new(), None),
                    None => (completion::INVALID_DATA_FIELD, Vec::new(), None),
                }
            }
            (netfn::APP, app_cmd::GET_CHANNEL_ACCESS) => {
                if req.data.len() != 2 {
                    return (completion::REQUEST_LENGTH_INVALID, Vec::new(), None);
                }
                if !matches!(req.data[0] & 0x0F, 0x01 | 0x0E)
                    || !matches!(req.data[1] >> 6, 0b01 | 0b10)
                {
                    return (completion::INVALID_DATA_FIELD, Vec::new(), None);
                }
                // Alerting disabled, per-message and user-level authentication enabled, always
                // available; privilege limit Administrator. Volatile and non-volatile agree.
                (
                    completion::OK,
                    vec![0x22, Privilege::Administrator as u8],
                    None,
                )
            }
            (netfn::APP, app_cmd::GET_CHANNEL_INFO) => {
                if req.data.len() != 1 {
                    return (completion::REQUEST_LENGTH_INVALID, Vec::new(), None);
                }
                if !matches!(req.data[0] & 0x0F, 0x01 | 0x0E) {
                    return (completion::INVALID_DATA_FIELD, Vec::new(), None);
                }
                let active = u8::try_from(self.sessions.active_count().min(0x3F)).unwrap_or(0x3F);
                // Channel 1: 802.3 LAN medium, IPMB-1.0 protocol, multi-session; IPMI's IANA (7154).
                (
                    completion::OK,
                    vec![
                        0x01,
                        0x04,
                        0x01,
                        0x80 | active,
                        0xF2,
                        0x1B,
                        0x00,
                        0x00,
                        0x00,
                    ],
                    None,
                )
            }
            (netfn::APP, app_cmd::CLOSE_SESSION) => {
                if req.data.len() != 4 && req.data.len() != 5 {
                    return (completion::REQUEST_LENGTH_INVALID, Vec::new(), None);
                }
                let target =
                    u32::from_le_bytes([req.data[0], req.data[1], req.data[2], req.data[3]]);
                let own = target == id;
                if !own && active.privilege < Privilege::Administrator {
                    return (completion::INSUFFICIENT_PRIVILEGE, Vec::new(), None);
                }
                if own || self.sessions.get_mut(target).is_some() {
                    (completion::OK, Vec::new(), Some(target))
                } else {
                    (completion::SPECIFIC_87, Vec::new(), None)
                }
            }
            _ => {
                let mut ctx = Context {
                    privilege: active.privilege,
                    chassis,
                    identity: &self.identity,
                    guid: self.guid,
                    boot: &mut self.boot,
                };
                let (cc, data) = command::execute(req, &mut ctx);
                (cc, data, None)
            }
        }
    }

    /// Commands answered without a session: channel authentication capabilities and cipher suites.
    fn pre_session(&self, req: &Request) -> Option<(u8, Vec<u8>)> {
        if req.netfn != netfn::APP {
            return None;
        }
        match req.cmd {
            app_cmd::GET_CHANNEL_AUTH_CAPABILITIES => Some(auth_capabilities(&req.data)),
            app_cmd::GET_CHANNEL_CIPHER_SUITES => Some(self.cipher_suites(&req.data)),
            _ => None,
        }
    }

    fn cipher_suites(&self, data: &[u8]) -> (u8, Vec<u8>) {
        if data.len() != 3 {
            return (completion::REQUEST_LENGTH_INVALID, Vec::new());
        }
        if !matches!(data[0] & 0x0F, 0x01 | 0x0E) || data[1] & 0x3F != 0 {
            return (completion::INVALID_DATA_FIELD, Vec::new());
        }
        let mut records = Vec::new();
        for suite in self
            .sessions
            .policy()
            .cipher_suites
            .iter()
            .filter_map(|id| CipherSuite::by_id(*id))
        {
            records.extend([
                0xC0,
                suite.id,
                suite.auth.number(),
                0x40 | suite.integrity.number(),
                0x80 | suite.confidentiality.number(),
            ]);
        }
        let index = usize::from(data[2] & 0x3F);
        let chunk: Vec<u8> = records.iter().copied().skip(index * 16).take(16).collect();
        let mut out = vec![0x01];
        out.extend(chunk);
        (completion::OK, out)
    }
}

fn auth_capabilities(data: &[u8]) -> (u8, Vec<u8>) {
    if data.len() != 2 {
        return (completion::REQUEST_LENGTH_INVALID, Vec::new());
    }
    let v2 = data[0] & 0x80 != 0;
    if !matches!(data[0] & 0x0F, 0x01 | 0x0E) || !(1..=5).contains(&(data[1] & 0x0F)) {
        return (completion::INVALID_DATA_FIELD, Vec::new());
    }
    // Only RMCP+ is offered: no IPMI v1.5 authentication types; non-null user names only (bit 2),
    // per-message and user-level authentication enabled.
    let out = vec![
        0x01,
        if v2 { 0x80 } else { 0x00 },
        0x04,
        if v2 { 0x02 } else { 0x00 },
        0x00,
        0x00,
        0x00,
        0x00,
    ];
    (completion::OK, out)
}
