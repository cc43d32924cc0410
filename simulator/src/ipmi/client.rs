//! Our own async RMCP+ client (IPMI v2.0 over LAN): opens a session with cipher suite 3 or 17
//! (or another standard suite), runs chassis and boot commands, closes the session. Every exchange
//! has a timeout and a bounded number of retries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::net::UdpSocket;

use super::command::{BootFlags, ChassisControl, app_cmd, chassis_cmd};
use super::crypto::{CipherSuite, ConfidentialityAlgorithm, Handshake, SessionKeys};
use super::message::{Request, netfn};
use super::packet::{self, PayloadType, V20Header};
use super::session::{Privilege, algorithm_record};

pub mod reply;

use reply::ReplyError;

/// How to reach and log in to one BMC.
#[derive(Clone)]
pub struct ClientConfig {
    /// BMC UDP address.
    pub target: SocketAddr,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
    /// Cipher suite ID (3 and 17 are the usual ones).
    pub cipher_suite: u8,
    /// Privilege to request and raise the session to.
    pub privilege: Privilege,
    /// Wait for one answer.
    pub timeout: Duration,
    /// Extra attempts after the first.
    pub retries: u32,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("target", &self.target)
            .field("username", &self.username)
            .field("cipher_suite", &self.cipher_suite)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// Administrator login with cipher suite 17, 1 s timeout and 2 retries.
    pub fn new(target: SocketAddr, username: &str, password: &str) -> Self {
        Self {
            target,
            username: username.to_owned(),
            password: password.to_owned(),
            cipher_suite: 17,
            privilege: Privilege::Administrator,
            timeout: Duration::from_secs(1),
            retries: 2,
        }
    }
}

/// What went wrong talking to a BMC.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Socket trouble.
    #[error("IPMI socket error talking to {target}")]
    Io {
        /// The BMC.
        target: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No valid answer after every retry.
    #[error("no answer from {target} to {operation} after {attempts} attempts")]
    Timeout {
        /// The BMC.
        target: SocketAddr,
        /// The exchange.
        operation: &'static str,
        /// Attempts made.
        attempts: u32,
    },
    /// The BMC refused a handshake step with an RMCP+ status code.
    #[error("{target} refused {stage} with RMCP+ status {status:#04x}")]
    Refused {
        /// The BMC.
        target: SocketAddr,
        /// Handshake stage.
        stage: &'static str,
        /// Status code.
        status: u8,
    },
    /// The BMC's RAKP 2 or RAKP 4 did not verify: wrong password (or an impostor).
    #[error("{target} failed {stage} verification (wrong password?)")]
    Authentication {
        /// The BMC.
        target: SocketAddr,
        /// Handshake stage.
        stage: &'static str,
    },
    /// A command answered with a non-zero completion code.
    #[error(
        "{target} answered NetFn {netfn:#04x} command {cmd:#04x} with completion code {code:#04x}"
    )]
    Completion {
        /// The BMC.
        target: SocketAddr,
        /// Network function.
        netfn: u8,
        /// Command.
        cmd: u8,
        /// Completion code.
        code: u8,
    },
    /// The answer was shorter or stranger than the command allows.
    #[error("{target} sent a malformed answer to {operation}")]
    Malformed {
        /// The BMC.
        target: SocketAddr,
        /// The exchange.
        operation: &'static str,
    },
    /// The cipher suite is not one this client knows.
    #[error("unknown cipher suite {0}")]
    UnknownSuite(u8),
    /// A command needs an open session.
    #[error("no session open with {0}")]
    NoSession(SocketAddr),
}

/// Chassis status as decoded from Get Chassis Status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChassisStatus {
    /// System power is on.
    pub power_on: bool,
    /// Raw current power state byte.
    pub power_state: u8,
    /// Raw last power event byte.
    pub last_event: u8,
    /// Raw misc chassis state byte.
    pub misc: u8,
}

struct Active {
    bmc_id: u32,
    keys: SessionKeys,
    sequence: u32,
}

/// An RMCP+ client bound to one BMC.
pub struct Client {
    config: ClientConfig,
    suite: CipherSuite,
    socket: UdpSocket,
    rng: ChaCha8Rng,
    rq_seq: u8,
    tag: u8,
    session: Option<Active>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .field("open", &self.session.is_some())
            .finish()
    }
}

impl Client {
    /// Binds a local socket (loopback when the BMC is on loopback); the RNG gives session IDs,
    /// random numbers and IVs.
    pub async fn new(config: ClientConfig, rng: ChaCha8Rng) -> Result<Self, ClientError> {
        let suite = CipherSuite::by_id(config.cipher_suite)
            .ok_or(ClientError::UnknownSuite(config.cipher_suite))?;
        let ip = config.target.ip();
        let local: IpAddr = match (ip.is_loopback(), ip) {
            (true, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            (true, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            (false, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (false, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let target = config.target;
        let socket = UdpSocket::bind((local, 0))
            .await
            .map_err(|source| ClientError::Io { target, source })?;
        socket
            .connect(target)
            .await
            .map_err(|source| ClientError::Io { target, source })?;
        Ok(Self {
            config,
            suite,
            socket,
            rng,
            rq_seq: 0,
            tag: 0,
            session: None,
        })
    }

    /// Whether a session is open.
    pub fn is_open(&self) -> bool {
        self.session.is_some()
    }

    fn io(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            target: self.config.target,
            source,
        }
    }

    fn malformed(&self, operation: &'static str) -> ClientError {
        ClientError::Malformed {
            target: self.config.target,
            operation,
        }
    }

    /// Sends `packet` and waits for an answer `accept` takes, resending up to the retry limit.
    async fn exchange<T>(
        &mut self,
        operation: &'static str,
        mut make: impl FnMut(&mut Self) -> Vec<u8>,
        mut accept: impl FnMut(&mut Self, &[u8]) -> Option<Result<T, ClientError>>,
    ) -> Result<T, ClientError> {
        let attempts = self.config.retries.saturating_add(1);
        let mut buf = vec![0u8; 1024];
        for _ in 0..attempts {
            let packet = make(self);
            self.socket.send(&packet).await.map_err(|e| self.io(e))?;
            let deadline = tokio::time::Instant::now() + self.config.timeout;
            loop {
                let n = match tokio::time::timeout_at(deadline, self.socket.recv(&mut buf)).await {
                    Err(_) => break,
                    // A refused port (ICMP) looks like silence; the next attempt or the timeout decides.
                    Ok(Err(_)) => {
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                    Ok(Ok(n)) => n,
                };
                if let Some(r) = accept(self, &buf[..n]) {
                    return r;
                }
            }
        }
        Err(ClientError::Timeout {
            target: self.config.target,
            operation,
            attempts,
        })
    }

    async fn handshake_step(
        &mut self,
        operation: &'static str,
        payload_type: PayloadType,
        expect: PayloadType,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, ClientError> {
        let tag = payload.first().copied().unwrap_or_default();
        let h = V20Header {
            payload_type,
            session_id: 0,
            sequence: 0,
            encrypted: false,
        };
        let packet = packet::encode_v20(h, &payload, None);
        self.exchange(
            operation,
            |_| packet.clone(),
            |_, bytes| reply::handshake(bytes, expect, tag).map(Ok),
        )
        .await
    }

    fn next_tag(&mut self) -> u8 {
        self.tag = self.tag.wrapping_add(1);
        self.tag
    }

    /// Opens an RMCP+ session: channel capabilities, Open Session, RAKP 1–4, Set Session Privilege.
    pub async fn open_session(&mut self) -> Result<(), ClientError> {
        let target = self.config.target;
        self.session = None;
        let caps = self
            .pre_session_command(
                app_cmd::GET_CHANNEL_AUTH_CAPABILITIES,
                vec![0x8E, self.config.privilege as u8],
            )
            .await?;
        if !reply::supports_ipmi20(&caps) {
            return Err(ClientError::Refused {
                target,
                stage: "channel capabilities (no IPMI 2.0)",
                status: 0,
            });
        }
        let suite = self.suite;
        let console_id = loop {
            let id = self.rng.next_u32();
            if id != 0 {
                break id;
            }
        };
        let tag = self.next_tag();
        let mut open = vec![tag, self.config.privilege as u8, 0, 0];
        open.extend(console_id.to_le_bytes());
        open.extend(algorithm_record(0, suite.auth.number()));
        open.extend(algorithm_record(1, suite.integrity.number()));
        open.extend(algorithm_record(2, suite.confidentiality.number()));
        let r = self
            .handshake_step(
                "Open Session",
                PayloadType::OpenSessionRequest,
                PayloadType::OpenSessionResponse,
                open,
            )
            .await?;
        let bmc_id = match reply::open_session(&r, console_id) {
            Ok(id) => id,
            Err(ReplyError::Refused(status)) => {
                return Err(ClientError::Refused {
                    target,
                    stage: "Open Session",
                    status,
                });
            }
            Err(ReplyError::Malformed) => return Err(self.malformed("Open Session")),
        };

        let mut console_random = [0u8; 16];
        self.rng.fill_bytes(&mut console_random);
        let role = 0x10 | self.config.privilege as u8; // name-only lookup
        let name = self.config.username.as_bytes().to_vec();
        if name.len() > 16 {
            return Err(ClientError::Refused {
                target,
                stage: "RAKP 1 (user name over 16 bytes)",
                status: 0x0C,
            });
        }
        let tag = self.next_tag();
        let mut rakp1 = vec![tag, 0, 0, 0];
        rakp1.extend(bmc_id.to_le_bytes());
        rakp1.extend(console_random);
        rakp1.extend([role, 0, 0, name.len() as u8]);
        rakp1.extend(&name);
        let r2 = self
            .handshake_step("RAKP 1", PayloadType::Rakp1, PayloadType::Rakp2, rakp1)
            .await?;
        let r2 = match reply::rakp2(&r2, suite.auth.code_len()) {
            Ok(r2) => r2,
            Err(ReplyError::Refused(status)) => {
                return Err(ClientError::Refused {
                    target,
                    stage: "RAKP 1",
                    status,
                });
            }
            Err(ReplyError::Malformed) => return Err(self.malformed("RAKP 2")),
        };
        let hs = Handshake {
            console_session_id: console_id,
            bmc_session_id: bmc_id,
            console_random,
            bmc_random: r2.bmc_random,
            bmc_guid: r2.bmc_guid,
            role,
            username: &name,
        };
        let kuid = self.config.password.as_bytes().to_vec();
        if !metal_tls::secret::eq(&hs.rakp2_code(suite.auth, &kuid), &r2.code) {
            // Tell the BMC, as consoles do, so it frees the session at once.
            let tag = self.next_tag();
            let mut abort = vec![tag, 0x0F, 0, 0];
            abort.extend(bmc_id.to_le_bytes());
            let h = V20Header {
                payload_type: PayloadType::Rakp3,
                session_id: 0,
                sequence: 0,
                encrypted: false,
            };
            // Best effort: the error below is what matters.
            let _ = self.socket.send(&packet::encode_v20(h, &abort, None)).await;
            return Err(ClientError::Authentication {
                target,
                stage: "RAKP 2",
            });
        }
        let tag = self.next_tag();
        let mut rakp3 = vec![tag, 0, 0, 0];
        rakp3.extend(bmc_id.to_le_bytes());
        rakp3.extend(hs.rakp3_code(suite.auth, &kuid));
        let r4 = self
            .handshake_step("RAKP 3", PayloadType::Rakp3, PayloadType::Rakp4, rakp3)
            .await?;
        let icv = match reply::rakp4(&r4, suite.auth.icv_len()) {
            Ok(icv) => Some(icv),
            Err(ReplyError::Refused(status)) => {
                return Err(ClientError::Refused {
                    target,
                    stage: "RAKP 3",
                    status,
                });
            }
            Err(ReplyError::Malformed) => None,
        };
        let sik = hs.sik(suite.auth, &kuid);
        if !icv.is_some_and(|icv| metal_tls::secret::eq(&hs.rakp4_icv(suite.auth, &sik), icv)) {
            return Err(ClientError::Authentication {
                target,
                stage: "RAKP 4",
            });
        }
        self.session = Some(Active {
            bmc_id,
            keys: SessionKeys::derive(suite, &sik),
            sequence: 0,
        });
        let want = self.config.privilege;
        if want > Privilege::User {
            self.command(netfn::APP, app_cmd::SET_SESSION_PRIVILEGE, vec![want as u8])
                .await?;
        }
        Ok(())
    }

    async fn pre_session_command(
        &mut self,
        cmd: u8,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, ClientError> {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        let req = Request::new(netfn::APP, cmd, self.rq_seq, data);
        let packet = packet::encode_v15(0, 0, &req.encode());
        let (seq, target) = (self.rq_seq, self.config.target);
        self.exchange(
            "pre-session command",
            |_| packet.clone(),
            |_, bytes| {
                let resp = reply::pre_session(bytes, seq, cmd)?;
                Some(if resp.completion == 0 {
                    Ok(resp.data)
                } else {
                    Err(ClientError::Completion {
                        target,
                        netfn: netfn::APP,
                        cmd,
                        code: resp.completion,
                    })
                })
            },
        )
        .await
    }

    /// Sends one command in the open session; returns the response data after a zero completion code.
    pub async fn command(
        &mut self,
        nf: u8,
        cmd: u8,
        data: Vec<u8>,
    ) -> Result<Vec<u8>, ClientError> {
        let target = self.config.target;
        if self.session.is_none() {
            return Err(ClientError::NoSession(target));
        }
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        let seq = self.rq_seq;
        let message = Request::new(nf, cmd, seq, data).encode();
        let encrypted = self.suite.confidentiality != ConfidentialityAlgorithm::None;
        let resp = self
            .exchange(
                "command",
                |me| {
                    let mut iv = [0u8; 16];
                    me.rng.fill_bytes(&mut iv);
                    let Some(s) = me.session.as_mut() else {
                        return Vec::new();
                    };
                    // Every transmission, retries included, takes a fresh session sequence number.
                    s.sequence = s.sequence.wrapping_add(1).max(1);
                    let h = V20Header {
                        payload_type: PayloadType::Ipmi,
                        session_id: s.bmc_id,
                        sequence: s.sequence,
                        encrypted,
                    };
                    packet::encode_v20(h, &s.keys.encrypt(&message, iv), Some(&s.keys))
                },
                |me, bytes| {
                    let s = me.session.as_ref()?;
                    reply::in_session(&s.keys, bytes, seq, cmd).map(Ok)
                },
            )
            .await?;
        if resp.completion != 0 {
            return Err(ClientError::Completion {
                target,
                netfn: nf,
                cmd,
                code: resp.completion,
            });
        }
        Ok(resp.data)
    }

    /// Get Chassis Status.
    pub async fn chassis_status(&mut self) -> Result<ChassisStatus, ClientError> {
        let d = self
            .command(netfn::CHASSIS, chassis_cmd::GET_STATUS, Vec::new())
            .await?;
        reply::chassis_status(&d).ok_or_else(|| self.malformed("Get Chassis Status"))
    }

    /// Whether system power is on.
    pub async fn power_status(&mut self) -> Result<bool, ClientError> {
        Ok(self.chassis_status().await?.power_on)
    }

    /// Chassis Control: on, off, cycle, reset, diagnostic interrupt or soft (ACPI) shutdown.
    pub async fn chassis_control(&mut self, action: ChassisControl) -> Result<(), ClientError> {
        self.command(netfn::CHASSIS, chassis_cmd::CONTROL, vec![action.byte()])
            .await
            .map(|_| ())
    }

    /// Sets the boot device (a [`super::command::boot_device`] selector), with persistence and EFI.
    pub async fn set_boot_device(
        &mut self,
        device: u8,
        persistent: bool,
        efi: bool,
    ) -> Result<(), ClientError> {
        let flags = BootFlags {
            valid: true,
            persistent,
            efi,
            device: device & 0x0F,
        };
        self.command(
            netfn::CHASSIS,
            chassis_cmd::SET_BOOT_OPTIONS,
            vec![0x05, flags.data1(), flags.device << 2, 0, 0, 0],
        )
        .await
        .map(|_| ())
    }

    /// Reads boot flags (parameter 5).
    pub async fn boot_flags(&mut self) -> Result<BootFlags, ClientError> {
        let d = self
            .command(
                netfn::CHASSIS,
                chassis_cmd::GET_BOOT_OPTIONS,
                vec![0x05, 0, 0],
            )
            .await?;
        reply::boot_flags(&d).ok_or_else(|| self.malformed("Get System Boot Options"))
    }

    /// Get Device ID response data.
    pub async fn device_id(&mut self) -> Result<Vec<u8>, ClientError> {
        self.command(netfn::APP, app_cmd::GET_DEVICE_ID, Vec::new())
            .await
    }

    /// Get System GUID (wire order).
    pub async fn system_guid(&mut self) -> Result<[u8; 16], ClientError> {
        let d = self
            .command(netfn::APP, app_cmd::GET_SYSTEM_GUID, Vec::new())
            .await?;
        reply::system_guid(&d).ok_or_else(|| self.malformed("Get System GUID"))
    }

    /// Closes the session (no-op when none is open).
    pub async fn close(&mut self) -> Result<(), ClientError> {
        let Some(id) = self.session.as_ref().map(|s| s.bmc_id) else {
            return Ok(());
        };
        let r = self
            .command(
                netfn::APP,
                app_cmd::CLOSE_SESSION,
                id.to_le_bytes().to_vec(),
            )
            .await;
        self.session = None;
        r.map(|_| ())
    }
}
