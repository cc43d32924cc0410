//! RMCP+ sessions on the BMC side: the Open Session / RAKP 1–4 handshake as a state machine, the
//! privilege level, the inbound sequence-number window and idle timeouts (IPMI v2.0 §13.15–13.31).
//!
//! Pure: time (`now`, elapsed since the server started) and randomness come in as arguments.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;

use super::crypto::{
    AuthAlgorithm, CipherSuite, ConfidentialityAlgorithm, Handshake, IntegrityAlgorithm,
    SessionKeys, constant_time_eq,
};

/// Privilege levels (IPMI v2.0 table 22-?; 0 means "highest available" in requests).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Privilege {
    /// Callback.
    Callback = 1,
    /// User: read-only commands.
    User = 2,
    /// Operator: may change power and boot.
    Operator = 3,
    /// Administrator.
    Administrator = 4,
}

impl Privilege {
    /// Parses the low nibble of a privilege byte (OEM, 5, is not granted here).
    pub fn from_nibble(b: u8) -> Option<Self> {
        match b & 0x0F {
            1 => Some(Self::Callback),
            2 => Some(Self::User),
            3 => Some(Self::Operator),
            4 => Some(Self::Administrator),
            _ => None,
        }
    }
}

/// RMCP+ status codes (IPMI v2.0 table 13-15).
pub mod status {
    /// No errors.
    pub const OK: u8 = 0x00;
    /// Insufficient resources to create a session.
    pub const NO_RESOURCES: u8 = 0x01;
    /// Invalid session ID.
    pub const INVALID_SESSION_ID: u8 = 0x02;
    /// Invalid authentication algorithm.
    pub const INVALID_AUTH_ALGORITHM: u8 = 0x04;
    /// Invalid integrity algorithm.
    pub const INVALID_INTEGRITY_ALGORITHM: u8 = 0x05;
    /// Invalid role.
    pub const INVALID_ROLE: u8 = 0x09;
    /// Unauthorized role or privilege level requested.
    pub const UNAUTHORIZED_ROLE: u8 = 0x0A;
    /// Invalid name length.
    pub const INVALID_NAME_LENGTH: u8 = 0x0C;
    /// Unauthorized name.
    pub const UNAUTHORIZED_NAME: u8 = 0x0D;
    /// Invalid integrity check value.
    pub const INVALID_INTEGRITY_CHECK: u8 = 0x0F;
    /// Invalid confidentiality algorithm.
    pub const INVALID_CONFIDENTIALITY_ALGORITHM: u8 = 0x10;
    /// No cipher suite match with the proposed security algorithms.
    pub const NO_CIPHER_SUITE_MATCH: u8 = 0x11;
    /// Illegal or unrecognized parameter.
    pub const ILLEGAL_PARAMETER: u8 = 0x12;
}

/// One BMC user.
#[derive(Clone)]
pub struct User {
    /// User name (at most 16 bytes).
    pub name: String,
    /// Password, the RAKP key Kuid (at most 20 bytes).
    pub password: String,
    /// Highest privilege the user may take.
    pub max_privilege: Privilege,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("max_privilege", &self.max_privilege)
            .finish()
    }
}

/// Session policy of one BMC.
#[derive(Clone, Debug)]
pub struct SessionPolicy {
    /// Cipher suite IDs offered, strongest first.
    pub cipher_suites: Vec<u8>,
    /// Idle time after which an active session is dropped.
    pub idle_timeout: Duration,
    /// Time allowed between Open Session and RAKP 3.
    pub handshake_timeout: Duration,
    /// Most sessions (active or in handshake) at once.
    pub max_sessions: usize,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            cipher_suites: vec![17, 3, 16, 2, 15, 1],
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            max_sessions: 32,
        }
    }
}

/// Accepts each inbound sequence number once, within a window of 32 around the highest seen.
#[derive(Clone, Debug, Default)]
pub struct SequenceWindow {
    highest: u32,
    /// Bit i set: `highest - i` has been seen.
    seen: u32,
}

impl SequenceWindow {
    const WIDTH: u32 = 32;

    /// Records `seq` and says whether it is fresh; zero, replays and far jumps are refused.
    pub fn accept(&mut self, seq: u32) -> bool {
        if seq == 0 {
            return false;
        }
        if self.highest == 0 {
            self.highest = seq;
            self.seen = 1;
            return true;
        }
        if seq > self.highest {
            let ahead = seq - self.highest;
            if ahead > Self::WIDTH {
                return false;
            }
            self.seen = if ahead >= 32 { 0 } else { self.seen << ahead };
            self.seen |= 1;
            self.highest = seq;
            return true;
        }
        let behind = self.highest - seq;
        if behind >= Self::WIDTH || self.seen & (1 << behind) != 0 {
            return false;
        }
        self.seen |= 1 << behind;
        true
    }
}

/// Where a session is in its life.
#[derive(Clone, Debug)]
pub enum Phase {
    /// Open Session answered; waiting for RAKP 1.
    Opened,
    /// RAKP 2 sent; waiting for RAKP 3.
    Challenged(Challenge),
    /// RAKP 4 sent: the session carries IPMI messages.
    Active(Box<ActiveSession>),
}

/// What the BMC remembers between RAKP 2 and RAKP 3.
#[derive(Clone, Debug)]
pub struct Challenge {
    user: usize,
    console_random: [u8; 16],
    bmc_random: [u8; 16],
    role: u8,
    username: Vec<u8>,
}

/// An established session.
#[derive(Clone, Debug)]
pub struct ActiveSession {
    /// Keys for integrity and confidentiality.
    pub keys: SessionKeys,
    /// Current privilege level.
    pub privilege: Privilege,
    /// Highest privilege this session may raise itself to.
    pub max_privilege: Privilege,
    /// Inbound sequence numbers.
    pub inbound: SequenceWindow,
    /// Next outbound sequence number.
    pub outbound: u32,
    challenge: Challenge,
}

impl ActiveSession {
    /// Takes the next outbound sequence number (never zero).
    pub fn next_outbound(&mut self) -> u32 {
        let s = self.outbound;
        self.outbound = self.outbound.wrapping_add(1).max(1);
        s
    }
}

/// One session slot.
#[derive(Clone, Debug)]
pub struct Session {
    /// The remote console's session ID (put in packets we send).
    pub console_id: u32,
    /// Negotiated suite.
    pub suite: CipherSuite,
    /// The privilege limit requested at Open Session (resolved).
    pub requested_max: Privilege,
    /// Handshake progress.
    pub phase: Phase,
    /// Last time a valid packet arrived.
    pub last_seen: Duration,
}

/// The sessions of one BMC plus its identity for the handshake.
#[derive(Debug)]
pub struct SessionTable {
    policy: SessionPolicy,
    users: Vec<User>,
    guid: [u8; 16],
    sessions: HashMap<u32, Session>,
}

/// A handshake payload to send back (Open Session Response or RAKP 2/4).
#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The status code inside it (0 = success).
    pub status: u8,
}

impl SessionTable {
    /// A table for a BMC with these users and this GUID (wire order).
    pub fn new(policy: SessionPolicy, users: Vec<User>, guid: [u8; 16]) -> Self {
        Self {
            policy,
            users,
            guid,
            sessions: HashMap::new(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    /// Number of sessions (any phase).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session exists.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Number of sessions that finished the handshake.
    pub fn active_count(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| matches!(s.phase, Phase::Active(_)))
            .count()
    }

    /// Drops sessions idle past their timeout.
    pub fn expire(&mut self, now: Duration) {
        let (idle, handshake) = (self.policy.idle_timeout, self.policy.handshake_timeout);
        self.sessions.retain(|_, s| {
            let limit = if matches!(s.phase, Phase::Active(_)) {
                idle
            } else {
                handshake
            };
            now.saturating_sub(s.last_seen) < limit
        });
    }

    /// The session with this BMC-side ID.
    pub fn get_mut(&mut self, id: u32) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    /// Closes a session; false when there was none.
    pub fn close(&mut self, id: u32) -> bool {
        self.sessions.remove(&id).is_some()
    }

    /// Handles an RMCP+ Open Session Request payload.
    pub fn open<R: Rng + ?Sized>(
        &mut self,
        payload: &[u8],
        now: Duration,
        rng: &mut R,
    ) -> Option<Reply> {
        if payload.len() < 8 {
            return None;
        }
        let tag = payload[0];
        let console_id = u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]);
        let refuse = |status: u8| Some(error_reply(tag, status, console_id));
        let Some(proposal) = parse_proposal(&payload[8..]) else {
            return refuse(status::ILLEGAL_PARAMETER);
        };
        let requested = match payload[1] & 0x0F {
            0 => Privilege::Administrator,
            n => match Privilege::from_nibble(n) {
                Some(p) => p,
                None => return refuse(status::INVALID_ROLE),
            },
        };
        let suite = match self.choose_suite(&proposal) {
            Ok(s) => s,
            Err(st) => return refuse(st),
        };
        self.expire(now);
        if self.sessions.len() >= self.policy.max_sessions {
            return refuse(status::NO_RESOURCES);
        }
        let id = loop {
            let id = rng.next_u32();
            if id != 0 && !self.sessions.contains_key(&id) {
                break id;
            }
        };
        self.sessions.insert(
            id,
            Session {
                console_id,
                suite,
                requested_max: requested,
                phase: Phase::Opened,
                last_seen: now,
            },
        );
        let mut out = vec![tag, status::OK, requested as u8, 0];
        out.extend(console_id.to_le_bytes());
        out.extend(id.to_le_bytes());
        out.extend(algorithm_record(0x00, suite.auth.number()));
        out.extend(algorithm_record(0x01, suite.integrity.number()));
        out.extend(algorithm_record(0x02, suite.confidentiality.number()));
        Some(Reply {
            payload: out,
            status: status::OK,
        })
    }

    fn choose_suite(&self, p: &Proposal) -> Result<CipherSuite, u8> {
        let auth = match p.auth {
            Some(n) => Some(AuthAlgorithm::from_number(n).ok_or(status::INVALID_AUTH_ALGORITHM)?),
            None => None,
        };
        let integrity = match p.integrity {
            Some(n) => Some(
                IntegrityAlgorithm::from_number(n).ok_or(status::INVALID_INTEGRITY_ALGORITHM)?,
            ),
            None => None,
        };
        let conf = match p.confidentiality {
            Some(n) => Some(
                ConfidentialityAlgorithm::from_number(n)
                    .ok_or(status::INVALID_CONFIDENTIALITY_ALGORITHM)?,
            ),
            None => None,
        };
        self.policy
            .cipher_suites
            .iter()
            .filter_map(|id| CipherSuite::by_id(*id))
            .find(|s| {
                auth.is_none_or(|a| a == s.auth)
                    && integrity.is_none_or(|i| i == s.integrity)
                    && conf.is_none_or(|c| c == s.confidentiality)
            })
            .ok_or(status::NO_CIPHER_SUITE_MATCH)
    }

    /// Handles RAKP Message 1; answers RAKP 2 (success or an error status that ends the session).
    pub fn rakp1<R: Rng + ?Sized>(
        &mut self,
        payload: &[u8],
        now: Duration,
        rng: &mut R,
    ) -> Option<Reply> {
        if payload.len() < 28 {
            return None;
        }
        let tag = payload[0];
        let id = u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]);
        let mut console_random = [0u8; 16];
        console_random.copy_from_slice(&payload[8..24]);
        let role = payload[24];
        let name_len = usize::from(payload[27]);
        let Some(session) = self.sessions.get(&id) else {
            return Some(error_reply(tag, status::INVALID_SESSION_ID, 0));
        };
        if matches!(session.phase, Phase::Active(_)) {
            return Some(error_reply(tag, status::INVALID_SESSION_ID, 0));
        }
        let console_id = session.console_id;
        let suite = session.suite;
        let requested_max = session.requested_max;
        let verdict = if name_len > 16 || payload.len() != 28 + name_len {
            Err(status::INVALID_NAME_LENGTH)
        } else {
            let username = &payload[28..28 + name_len];
            match (
                Privilege::from_nibble(role),
                self.users
                    .iter()
                    .position(|u| u.name.as_bytes() == username),
            ) {
                (None, _) => Err(status::INVALID_ROLE),
                (_, None) => Err(status::UNAUTHORIZED_NAME),
                (Some(p), Some(u)) if p > self.users[u].max_privilege || p > requested_max => {
                    Err(status::UNAUTHORIZED_ROLE)
                }
                (Some(_), Some(u)) => Ok((u, username.to_vec())),
            }
        };
        let (user, username) = match verdict {
            Ok(v) => v,
            Err(st) => {
                self.sessions.remove(&id);
                return Some(error_reply(tag, st, console_id));
            }
        };
        let mut bmc_random = [0u8; 16];
        rng.fill_bytes(&mut bmc_random);
        let challenge = Challenge {
            user,
            console_random,
            bmc_random,
            role,
            username,
        };
        let code = self
            .handshake(id, console_id, &challenge)
            .rakp2_code(suite.auth, self.key(user));
        let mut out = vec![tag, status::OK, 0, 0];
        out.extend(console_id.to_le_bytes());
        out.extend(bmc_random);
        out.extend(self.guid);
        out.extend(code);
        if let Some(s) = self.sessions.get_mut(&id) {
            s.phase = Phase::Challenged(challenge);
            s.last_seen = now;
        }
        Some(Reply {
            payload: out,
            status: status::OK,
        })
    }

    /// Handles RAKP Message 3; answers RAKP 4 and activates the session, or refuses it.
    pub fn rakp3(&mut self, payload: &[u8], now: Duration) -> Option<Reply> {
        if payload.len() < 8 {
            return None;
        }
        let tag = payload[0];
        let console_status = payload[1];
        let id = u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]);
        let Some(session) = self.sessions.get(&id) else {
            return Some(error_reply(tag, status::INVALID_SESSION_ID, 0));
        };
        let console_id = session.console_id;
        let suite = session.suite;
        let requested_max = session.requested_max;
        let challenge = match &session.phase {
            Phase::Opened => return Some(error_reply(tag, status::INVALID_SESSION_ID, console_id)),
            Phase::Challenged(c) => c.clone(),
            // A repeated RAKP 3 (our RAKP 4 was lost): answer again if it is the same message.
            Phase::Active(a) => a.challenge.clone(),
        };
        if console_status != status::OK {
            // The console rejected our RAKP 2 (typically: wrong password on its side).
            self.sessions.remove(&id);
            return None;
        }
        let hs = self.handshake(id, console_id, &challenge);
        let kuid = self.key(challenge.user);
        let expected = hs.rakp3_code(suite.auth, kuid);
        if expected.len() != suite.auth.code_len() || !constant_time_eq(&payload[8..], &expected) {
            self.sessions.remove(&id);
            return Some(error_reply(
                tag,
                status::INVALID_INTEGRITY_CHECK,
                console_id,
            ));
        }
        let sik = hs.sik(suite.auth, kuid);
        let icv = hs.rakp4_icv(suite.auth, &sik);
        let role_privilege = Privilege::from_nibble(challenge.role).unwrap_or(Privilege::User);
        let max_privilege = role_privilege.min(requested_max);
        if let Some(s) = self.sessions.get_mut(&id) {
            if !matches!(s.phase, Phase::Active(_)) {
                s.phase = Phase::Active(Box::new(ActiveSession {
                    keys: SessionKeys::derive(suite, &sik),
                    // Sessions start at User level (or lower) until Set Session Privilege Level.
                    privilege: max_privilege.min(Privilege::User),
                    max_privilege,
                    inbound: SequenceWindow::default(),
                    outbound: 1,
                    challenge,
                }));
            }
            s.last_seen = now;
        }
        let mut out = vec![tag, status::OK, 0, 0];
        out.extend(console_id.to_le_bytes());
        out.extend(icv);
        Some(Reply {
            payload: out,
            status: status::OK,
        })
    }

    fn key(&self, user: usize) -> &[u8] {
        self.users
            .get(user)
            .map(|u| u.password.as_bytes())
            .unwrap_or_default()
    }

    fn handshake<'a>(&self, bmc_id: u32, console_id: u32, c: &'a Challenge) -> Handshake<'a> {
        Handshake {
            console_session_id: console_id,
            bmc_session_id: bmc_id,
            console_random: c.console_random,
            bmc_random: c.bmc_random,
            bmc_guid: self.guid,
            role: c.role,
            username: &c.username,
        }
    }
}

fn error_reply(tag: u8, st: u8, console_id: u32) -> Reply {
    let mut out = vec![tag, st, 0, 0];
    out.extend(console_id.to_le_bytes());
    Reply {
        payload: out,
        status: st,
    }
}

/// An 8-byte algorithm record of the Open Session messages.
pub fn algorithm_record(kind: u8, algorithm: u8) -> [u8; 8] {
    [kind, 0, 0, 8, algorithm, 0, 0, 0]
}

struct Proposal {
    auth: Option<u8>,
    integrity: Option<u8>,
    confidentiality: Option<u8>,
}

/// Parses the three algorithm records; a record of length 0 is a wildcard ("BMC chooses").
fn parse_proposal(mut b: &[u8]) -> Option<Proposal> {
    let mut found = [None; 3];
    for (kind, slot) in found.iter_mut().enumerate() {
        if b.len() < 4 || usize::from(b[0]) != kind {
            return None;
        }
        match b[3] {
            0 => b = &b[4..],
            8 if b.len() >= 8 => {
                *slot = Some(b[4] & 0x3F);
                b = &b[8..];
            }
            _ => return None,
        }
    }
    b.is_empty().then_some(Proposal {
        auth: found[0],
        integrity: found[1],
        confidentiality: found[2],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn table() -> SessionTable {
        let users = vec![User {
            name: "admin".into(),
            password: "password".into(),
            max_privilege: Privilege::Administrator,
        }];
        SessionTable::new(SessionPolicy::default(), users, [0x42; 16])
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
        let Phase::Active(a) = &t.get_mut(id).unwrap().phase else {
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
            .open(&open_request(1, 1, 1), Duration::ZERO, &mut rng)
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
            t.open(&open_request(a, i, c), Duration::ZERO, rng)
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
        for _ in 0..32 {
            assert_eq!(
                t.open(&open_request(1, 1, 1), Duration::ZERO, &mut rng)
                    .unwrap()
                    .status,
                0
            );
        }
        let full = t
            .open(&open_request(1, 1, 1), Duration::from_secs(1), &mut rng)
            .unwrap();
        assert_eq!(full.status, status::NO_RESOURCES);
        let later = t
            .open(&open_request(1, 1, 1), Duration::from_secs(11), &mut rng)
            .unwrap();
        assert_eq!(later.status, 0);
        assert_eq!(t.len(), 1);
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
}
