//! The Open Session / RAKP 1–4 handshake: cipher suite choice, the challenge, the key exchange
//! authentication codes and the replies (IPMI v2.0 §13.17–13.31).

use std::net::IpAddr;
use std::time::Duration;

use rand::Rng;

use super::super::crypto::{
    AuthAlgorithm, CipherSuite, ConfidentialityAlgorithm, Handshake, IntegrityAlgorithm,
    SessionKeys,
};
use super::*;

impl SessionTable {
    /// Handles an RMCP+ Open Session Request payload from `source`.
    pub fn open<R: Rng + ?Sized>(
        &mut self,
        payload: &[u8],
        source: IpAddr,
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
        if self.sessions.len() >= self.policy.max_sessions
            || self.half_open_from(source) >= self.policy.max_half_open_per_source
        {
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
                stage: SessionStage::Opened,
                last_seen: now,
                source,
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
        if matches!(session.stage, SessionStage::Active(_)) {
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
            s.stage = SessionStage::Challenged(challenge);
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
        let challenge = match &session.stage {
            SessionStage::Opened => {
                return Some(error_reply(tag, status::INVALID_SESSION_ID, console_id));
            }
            SessionStage::Challenged(c) => c.clone(),
            // A repeated RAKP 3 (our RAKP 4 was lost): answer again if it is the same message.
            SessionStage::Active(a) => a.challenge.clone(),
        };
        if console_status != status::OK {
            // The console rejected our RAKP 2 (typically: wrong password on its side).
            self.sessions.remove(&id);
            return None;
        }
        let hs = self.handshake(id, console_id, &challenge);
        let kuid = self.key(challenge.user);
        let expected = hs.rakp3_code(suite.auth, kuid);
        if expected.len() != suite.auth.code_len()
            || !metal_tls::secret::eq(&payload[8..], &expected)
        {
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
            if !matches!(s.stage, SessionStage::Active(_)) {
                s.stage = SessionStage::Active(Box::new(ActiveSession {
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
