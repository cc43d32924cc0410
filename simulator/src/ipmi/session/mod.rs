//! RMCP+ sessions on the BMC side: the Open Session / RAKP 1–4 handshake as a state machine, the
//! privilege level, the inbound sequence-number window and idle timeouts (IPMI v2.0 §13.15–13.31).
//!
//! Pure: time (`now`, elapsed since the server started) and randomness come in as arguments.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// The Open Session and RAKP 1–4 exchange on the table.
mod handshake;

pub use handshake::algorithm_record;

use super::crypto::{CipherSuite, SessionKeys};

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
    /// Cipher suite IDs offered, strongest first. The default offers only suites with integrity
    /// (17, 3, 16, 2); a BMC that should also accept the suites without it
    /// ([`SessionPolicy::WITHOUT_INTEGRITY`]) lists them here.
    pub cipher_suites: Vec<u8>,
    /// Idle time after which an active session is dropped.
    pub idle_timeout: Duration,
    /// Time allowed between Open Session and RAKP 3.
    pub handshake_timeout: Duration,
    /// Most sessions (active or in handshake) at once.
    pub max_sessions: usize,
    /// Most half-open sessions (Open Session answered, RAKP 3 not yet accepted) one source
    /// address may hold: a source opening without end (spoofed or not) takes this many slots
    /// until they expire after `handshake_timeout`, and leaves the rest of the table to others.
    pub max_half_open_per_source: usize,
}

impl SessionPolicy {
    /// The cipher suites without integrity (IPMI v2.0 table 22-20: 0 = no authentication; 1
    /// RAKP-HMAC-SHA1, 6 RAKP-HMAC-MD5 and 15 RAKP-HMAC-SHA256, each with neither integrity nor
    /// confidentiality): never offered unless listed in [`SessionPolicy::cipher_suites`].
    pub const WITHOUT_INTEGRITY: [u8; 4] = [0, 1, 6, 15];

    /// The default policy also offering suites 15 and 1 (after the suites with integrity), for
    /// consoles that need them.
    pub fn allowing_suites_without_integrity() -> Self {
        let mut policy = Self::default();
        policy.cipher_suites.extend([15, 1]);
        policy
    }
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            cipher_suites: vec![17, 3, 16, 2],
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            max_sessions: 32,
            max_half_open_per_source: 8,
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
pub enum SessionStage {
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
    pub stage: SessionStage,
    /// Last time a valid packet arrived.
    pub last_seen: Duration,
    /// The address the Open Session Request came from.
    pub source: IpAddr,
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

    /// Number of sessions (any stage).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session exists.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Number of sessions `source` holds that have not finished the handshake.
    pub fn half_open_from(&self, source: IpAddr) -> usize {
        self.sessions
            .values()
            .filter(|s| s.source == source && !matches!(s.stage, SessionStage::Active(_)))
            .count()
    }

    /// Number of sessions that finished the handshake.
    pub fn active_count(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| matches!(s.stage, SessionStage::Active(_)))
            .count()
    }

    /// Drops sessions idle past their timeout.
    pub fn expire(&mut self, now: Duration) {
        let (idle, handshake) = (self.policy.idle_timeout, self.policy.handshake_timeout);
        self.sessions.retain(|_, s| {
            let limit = if matches!(s.stage, SessionStage::Active(_)) {
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
}

#[cfg(test)]
mod tests;
