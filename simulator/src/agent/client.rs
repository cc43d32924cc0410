//! The agent's side of the Ironic API: version negotiation, lookup, heartbeat, inspection data
//! (one request each; when to retry is [`super::life`]'s), and bounded image downloads. Loopback
//! only: every URL is checked before a request is sent.

use std::time::Duration;

use serde_json::{Value, json};

use super::core::{AGENT_VERSION, Binding};

/// Header carrying the requested microversion.
const VERSION_HEADER: &str = "X-OpenStack-Ironic-API-Version";
/// The newest microversion the agent speaks (the `continue_inspection` reply with a token).
const OUR_MAX_MINOR: u32 = 84;
/// The oldest it accepts: lookup hands out agent tokens from 1.62.
const OUR_MIN_MINOR: u32 = 62;

/// Why a call to Ironic (or an image server) failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL does not parse.
    #[error("invalid URL {url:?}")]
    BadUrl {
        /// The URL.
        url: String,
    },
    /// The agent only talks to loopback addresses.
    #[error("{url} is not a loopback URL (the fake agent only talks to 127.0.0.0/8 and ::1)")]
    NotLoopback {
        /// The URL.
        url: String,
        /// What the egress rule said.
        #[source]
        refusal: crate::egress::Refusal,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client")]
    Build(#[source] reqwest::Error),
    /// Connection or protocol failure.
    #[error("request to {url} failed")]
    Http {
        /// The URL.
        url: String,
        /// Cause.
        #[source]
        source: reqwest::Error,
    },
    /// An unexpected status.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// Body (truncated).
        body: String,
    },
    /// A reply we cannot use.
    #[error("unusable reply from {url}: {reason}")]
    BadReply {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Ironic's microversion range does not include what the agent needs.
    #[error("Ironic at {url} supports API up to 1.{max}, the agent needs 1.{OUR_MIN_MINOR}")]
    TooOld {
        /// The URL.
        url: String,
        /// Ironic's maximum minor version.
        max: u32,
    },
    /// A download exceeded its size limit.
    #[error("{url} is larger than the {limit} byte limit")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
}

/// Checks that `url` is http(s) to a loopback host and returns it parsed.
pub fn loopback_url(url: &str) -> Result<url::Url, ClientError> {
    let parsed = url::Url::parse(url).map_err(|_| ClientError::BadUrl {
        url: url.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ClientError::BadUrl {
            url: url.to_string(),
        });
    }
    let host = parsed.host().ok_or_else(|| ClientError::BadUrl {
        url: url.to_string(),
    })?;
    // No networks beyond loopback: the fake agent never leaves 127.0.0.0/8 and ::1.
    crate::egress::admit_host(&host, &[]).map_err(|refusal| ClientError::NotLoopback {
        url: url.to_string(),
        refusal,
    })?;
    Ok(parsed)
}

/// An HTTP client for loopback calls (ring-backed rustls for HTTPS, no proxy, `timeout` per request;
/// names and redirects confined to loopback).
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, ClientError> {
    let tls = metal_tls::client_config(metal_tls::Roots::Empty, false).map_err(|e| {
        ClientError::BadReply {
            url: String::new(),
            reason: format!("TLS configuration: {e}"),
        }
    })?;
    crate::egress::confine(reqwest::Client::builder(), &[])
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(3))
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(ClientError::Build)
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The node, with its token.
    Found(Binding),
    /// Not (yet) findable: 404 (unknown MACs or a state that forbids lookup) or 409 (node locked).
    NotYet {
        /// The status seen.
        status: u16,
    },
}

/// How a heartbeat was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heartbeat {
    /// 202.
    Accepted,
    /// 409: the node is locked; try again soon.
    Conflict,
    /// Another status (logged by the caller).
    Refused {
        /// Status.
        status: u16,
        /// Ironic's fault string.
        fault: String,
    },
}

/// How the inspection data was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspection {
    /// 202: Ironic processes the data; with API ≥ 1.84 it hands out the agent token.
    Accepted(Option<Binding>),
    /// 404: the node is not being inspected (or not known).
    NotInspecting,
    /// 409: locked, try again.
    Conflict,
}

/// Ironic's error text: the inner `faultstring` of its double-encoded body, or the raw body.
pub fn fault_string(body: &str) -> String {
    let outer: Option<Value> = serde_json::from_str(body).ok();
    let inner = outer
        .as_ref()
        .and_then(|v| v.get("error_message"))
        .and_then(|m| match m {
            Value::String(s) => serde_json::from_str::<Value>(s).ok(),
            other => Some(other.clone()),
        });
    inner
        .as_ref()
        .and_then(|v| v.get("faultstring"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| body.chars().take(300).collect())
}

/// Reads the node and token out of a lookup (or `continue_inspection`) reply.
pub fn parse_binding(v: &Value) -> Option<Binding> {
    let node_uuid = v.get("node")?.get("uuid")?.as_str()?.to_string();
    let config = v.get("config");
    let token = config
        .and_then(|c| c.get("agent_token"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let md5_allowed = config
        .and_then(|c| c.get("agent_md5_checksum_enable"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Some(Binding {
        node_uuid,
        token,
        md5_allowed,
    })
}

/// A client of one Ironic API endpoint.
#[derive(Debug, Clone)]
pub struct IronicClient {
    http: reqwest::Client,
    base: String,
    minor: u32,
}

impl IronicClient {
    /// A client of `base` (e.g. `http://127.0.0.1:6385`), refused unless it is loopback. Uses
    /// 1.`OUR_MAX` until [`IronicClient::negotiate`] is called.
    pub fn new(base: &str, http: reqwest::Client) -> Result<IronicClient, ClientError> {
        loopback_url(base)?;
        Ok(IronicClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            minor: OUR_MAX_MINOR,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The microversion used, `1.N`.
    pub fn version(&self) -> String {
        format!("1.{}", self.minor)
    }

    /// Reads Ironic's root document and picks min(Ironic's maximum, ours).
    pub async fn negotiate(&mut self) -> Result<String, ClientError> {
        let url = format!("{}/", self.base);
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|source| ClientError::Http {
                url: url.clone(),
                source,
            })?;
        let header_max = resp
            .headers()
            .get("X-OpenStack-Ironic-API-Maximum-Version")
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let text = header_max.or_else(|| {
            body.get("default_version")
                .and_then(|d| d.get("version"))
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        let max = text
            .as_deref()
            .and_then(|t| t.split_once('.'))
            .and_then(|(_, minor)| minor.parse::<u32>().ok())
            .ok_or_else(|| ClientError::BadReply {
                url: url.clone(),
                reason: "no maximum API version".into(),
            })?;
        if max < OUR_MIN_MINOR {
            return Err(ClientError::TooOld { url, max });
        }
        self.minor = max.min(OUR_MAX_MINOR);
        Ok(self.version())
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<(u16, String), ClientError> {
        let resp = req
            .header(VERSION_HEADER, self.version())
            .send()
            .await
            .map_err(|source| ClientError::Http {
                url: url.to_string(),
                source,
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|source| ClientError::Http {
            url: url.to_string(),
            source,
        })?;
        Ok((status, body))
    }

    /// One `GET /v1/lookup?addresses=…`.
    pub async fn lookup(&self, macs: &[String]) -> Result<Lookup, ClientError> {
        let url = format!("{}/v1/lookup", self.base);
        let (status, body) = self
            .send(
                self.http.get(&url).query(&[("addresses", macs.join(","))]),
                &url,
            )
            .await?;
        match status {
            200 => {
                let v: Value = serde_json::from_str(&body).map_err(|e| ClientError::BadReply {
                    url: url.clone(),
                    reason: e.to_string(),
                })?;
                parse_binding(&v)
                    .map(Lookup::Found)
                    .ok_or_else(|| ClientError::BadReply {
                        url,
                        reason: "no node.uuid in the lookup reply".into(),
                    })
            }
            404 | 409 => Ok(Lookup::NotYet { status }),
            _ => Err(ClientError::Status {
                url,
                status,
                body: fault_string(&body),
            }),
        }
    }

    /// One `POST /v1/heartbeat/{uuid}`.
    pub async fn heartbeat(
        &self,
        node_uuid: &str,
        callback_url: &str,
        token: &str,
    ) -> Result<Heartbeat, ClientError> {
        let url = format!("{}/v1/heartbeat/{node_uuid}", self.base);
        let body = json!({"callback_url": callback_url, "agent_token": token,
                          "agent_version": AGENT_VERSION});
        let (status, text) = self.send(self.http.post(&url).json(&body), &url).await?;
        Ok(match status {
            202 | 200 | 204 => Heartbeat::Accepted,
            409 => Heartbeat::Conflict,
            _ => Heartbeat::Refused {
                status,
                fault: fault_string(&text),
            },
        })
    }

    /// One `POST /v1/continue_inspection` with the inspection data.
    pub async fn continue_inspection(&self, data: &Value) -> Result<Inspection, ClientError> {
        let url = format!("{}/v1/continue_inspection", self.base);
        let (status, body) = self.send(self.http.post(&url).json(data), &url).await?;
        match status {
            200..=299 => {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                Ok(Inspection::Accepted(
                    parse_binding(&v).filter(|b| !b.token.trim_matches('*').is_empty()),
                ))
            }
            404 | 405 => Ok(Inspection::NotInspecting),
            409 => Ok(Inspection::Conflict),
            _ => Err(ClientError::Status {
                url,
                status,
                body: fault_string(&body),
            }),
        }
    }
}

/// Downloads `url` (loopback only) into memory, refusing more than `limit` bytes.
pub async fn download(
    http: &reqwest::Client,
    url: &str,
    limit: u64,
) -> Result<Vec<u8>, ClientError> {
    loopback_url(url)?;
    let mut resp = http
        .get(url)
        .send()
        .await
        .map_err(|source| ClientError::Http {
            url: url.to_string(),
            source,
        })?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(ClientError::Status {
            url: url.to_string(),
            status,
            body: String::new(),
        });
    }
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(ClientError::TooLarge {
            url: url.to_string(),
            limit,
        });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|source| ClientError::Http {
        url: url.to_string(),
        source,
    })? {
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(ClientError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_accepted() {
        assert!(loopback_url("http://127.0.0.1:6385").is_ok());
        assert!(loopback_url("http://127.3.4.5/x").is_ok());
        assert!(loopback_url("http://[::1]:80/").is_ok());
        assert!(loopback_url("http://localhost/").is_ok());
        assert!(matches!(
            loopback_url("http://10.0.0.1/"),
            Err(ClientError::NotLoopback { .. })
        ));
        assert!(matches!(
            loopback_url("ftp://127.0.0.1/"),
            Err(ClientError::BadUrl { .. })
        ));
    }

    #[test]
    fn lookup_reply_and_ironic_faults_are_read() {
        let v = json!({"node": {"uuid": "u"}, "config": {"agent_token": "t", "agent_md5_checksum_enable": true}});
        let b = parse_binding(&v).unwrap();
        assert_eq!(
            (b.node_uuid.as_str(), b.token.as_str(), b.md5_allowed),
            ("u", "t", true)
        );
        let body = r#"{"error_message": "{\"faultcode\": \"Client\", \"faultstring\": \"Node locked\", \"debuginfo\": null}"}"#;
        assert_eq!(fault_string(body), "Node locked");
    }
}
