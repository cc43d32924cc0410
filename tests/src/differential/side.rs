//! One server under comparison: raw requests, watches that record what they see, kubectl.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use futures::StreamExt as _;
use http::Method;
use serde_json::{Value, json};

use crate::wait::{Check, eventually};

/// Longest a single request may take (a watch is bounded by its own `timeoutSeconds`).
const REQUEST: Duration = Duration::from_secs(30);
/// Tries of a request the server throttles (429).
const THROTTLED_ATTEMPTS: u32 = 10;

/// One server under comparison.
#[derive(Clone)]
pub struct Side {
    /// `real` or `embedded`, as the report names them.
    pub label: &'static str,
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
}

/// One HTTP answer: status code, `Warning` header texts and the body (JSON, or a string).
#[derive(Clone, Debug)]
pub struct Reply {
    pub code: u16,
    pub warnings: Vec<String>,
    pub body: Value,
}

impl Reply {
    /// `reason` of a Status body (`null` for any other body).
    pub fn reason(&self) -> Value {
        if self.body["kind"] == "Status" {
            self.body.get("reason").cloned().unwrap_or(Value::Null)
        } else {
            Value::Null
        }
    }

    /// `{code, reason}`: what a client branches on.
    pub fn outcome(&self) -> Value {
        json!({"code": self.code, "reason": self.reason()})
    }

    /// `metadata.name` of the body.
    pub fn name(&self) -> String {
        self.body["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `metadata.resourceVersion` of the body.
    pub fn rv(&self) -> String {
        self.body["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `metadata.name` of each item of a list body, in order.
    pub fn item_names(&self) -> Vec<String> {
        self.body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["metadata"]["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The text inside a `Warning: 299 - "text"` header value.
fn warning_text(header: &str) -> String {
    let quoted = header
        .split_once(" - ")
        .map_or(header, |(_, rest)| rest)
        .trim();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(quoted);
    inner.replace("\\\"", "\"").replace("\\\\", "\\")
}

impl Side {
    /// A side reached with the admin identity of `kubeconfig`.
    pub async fn connect(label: &'static str, kubeconfig: &Path) -> anyhow::Result<Side> {
        use kube::config::{KubeConfigOptions, Kubeconfig};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let file = Kubeconfig::read_from(kubeconfig)
            .with_context(|| format!("reading {}", kubeconfig.display()))?;
        let mut config = kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
            .await
            .with_context(|| format!("loading {}", kubeconfig.display()))?;
        config.default_retry = false;
        Ok(Side {
            label,
            client: kube::Client::try_from(config).context("building the client")?,
            kubeconfig: kubeconfig.to_path_buf(),
        })
    }

    /// Sends one request; any HTTP status is an answer, only a transport failure is an error. A
    /// 429 (the real server's priority and fairness shedding load on a busy machine) is retried
    /// after the server's Retry-After, as client-go and kube-rs retry it.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Reply> {
        let mut attempt = 0;
        loop {
            let (reply, retry_after) = self.call_once(&method, path, headers, body.clone()).await?;
            attempt += 1;
            match retry_after {
                Some(wait) if reply.code == 429 && attempt < THROTTLED_ATTEMPTS => {
                    tokio::time::sleep(wait).await;
                }
                _ => return Ok(reply),
            }
        }
    }

    async fn call_once(
        &self,
        method: &Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<(Reply, Option<Duration>)> {
        let mut request = http::Request::builder().method(method.clone()).uri(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(kube::client::Body::from(body.unwrap_or_default()))
            .with_context(|| format!("building {method} {path}"))?;
        let response = tokio::time::timeout(REQUEST, self.client.send(request))
            .await
            .with_context(|| format!("{} {method} {path} took over {REQUEST:?}", self.label))?
            .with_context(|| format!("{} {method} {path}", self.label))?;
        let code = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.clamp(1, 5)));
        let warnings = response
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(warning_text)
            .collect();
        let bytes = response
            .into_body()
            .collect_bytes()
            .await
            .with_context(|| format!("{} {method} {path}: reading the body", self.label))?;
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((
            Reply {
                code,
                warnings,
                body,
            },
            retry_after,
        ))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.call(Method::GET, path, &[], None).await
    }

    /// GET with an `Accept` header (Tables, aggregated discovery).
    pub async fn get_as(&self, path: &str, accept: &str) -> anyhow::Result<Reply> {
        self.call(Method::GET, path, &[("accept", accept)], None)
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send_json(Method::POST, path, "application/json", body)
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Reply> {
        self.send_json(Method::PUT, path, "application/json", body)
            .await
    }

    /// PATCH with the patch type's content type (`application/merge-patch+json`, …).
    pub async fn patch(
        &self,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> anyhow::Result<Reply> {
        self.send_json(Method::PATCH, path, content_type, body)
            .await
    }

    /// DELETE, with `DeleteOptions` when given (as kube-rs and kubectl send them).
    pub async fn delete(&self, path: &str, options: Option<&Value>) -> anyhow::Result<Reply> {
        match options {
            Some(o) => {
                self.send_json(Method::DELETE, path, "application/json", o)
                    .await
            }
            None => self.call(Method::DELETE, path, &[], None).await,
        }
    }

    async fn send_json(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> anyhow::Result<Reply> {
        let bytes = serde_json::to_vec(body)?;
        self.call(method, path, &[("content-type", content_type)], Some(bytes))
            .await
    }

    /// Starts a watch (`path` carries `watch=true` and its options) that records every event.
    pub async fn watch(&self, path: &str) -> anyhow::Result<Watch> {
        self.watch_as(path, None).await
    }

    /// [`Side::watch`] with an `Accept` header (kubectl's `get -w` asks for Tables).
    pub async fn watch_as(&self, path: &str, accept: Option<&str>) -> anyhow::Result<Watch> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Mutex::new(None));
        let mut attempt = 0;
        let stream = loop {
            let mut request = http::Request::builder().method(Method::GET).uri(path);
            if let Some(accept) = accept {
                request = request.header("accept", accept);
            }
            let request = request.body(Vec::new())?;
            let stream =
                tokio::time::timeout(REQUEST, self.client.request_events::<Value>(request))
                    .await
                    .with_context(|| format!("{} watch {path} did not start", self.label))?;
            attempt += 1;
            match stream {
                // Throttled by the real server's priority and fairness: retried, as clients do.
                Err(kube::Error::Api(status))
                    if status.code == 429 && attempt < THROTTLED_ATTEMPTS =>
                {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                other => break other,
            }
        };
        let mut stream = match stream {
            Ok(s) => s.boxed(),
            Err(kube::Error::Api(status)) => {
                // Refused before streaming: recorded as the only "event".
                let refused = json!({"type": "REFUSED", "object": {"code": status.code, "reason": status.reason}});
                return Ok(Watch {
                    seen: Arc::new(Mutex::new(vec![refused])),
                    ended: Arc::new(Mutex::new(Some("refused".into()))),
                    task: None,
                });
            }
            Err(e) => return Err(e).with_context(|| format!("{} watch {path}", self.label)),
        };
        let task = {
            let seen = Arc::clone(&seen);
            let ended = Arc::clone(&ended);
            tokio::spawn(async move {
                let end = loop {
                    match stream.next().await {
                        Some(Ok(event)) => {
                            let value = serde_json::to_value(&event).unwrap_or(Value::Null);
                            if let Ok(mut s) = seen.lock() {
                                s.push(value);
                            }
                        }
                        Some(Err(e)) => break format!("stream error: {e}"),
                        None => break "closed".to_owned(),
                    }
                };
                if let Ok(mut e) = ended.lock() {
                    *e = Some(end);
                }
            })
        };
        Ok(Watch {
            seen,
            ended,
            task: Some(task),
        })
    }

    /// kubectl as this side's admin: stdout, or the error text (a refusal is an answer too).
    pub async fn kubectl(&self, args: &[&str], input: Option<&str>) -> String {
        match crate::kubectl::kubectl(&self.kubeconfig, args, input).await {
            Ok(out) => out,
            Err(e) => format!("ERROR: {e:#}"),
        }
    }
}

/// A running watch and the events it has recorded (`{"type", "object"}` each).
pub struct Watch {
    seen: Arc<Mutex<Vec<Value>>>,
    ended: Arc<Mutex<Option<String>>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Watch {
    /// The events so far.
    pub fn events(&self) -> Vec<Value> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until `done` holds for the events seen, or `limit` passes; returns the events either way
    /// (a shape that never completes is a difference to report, not an error).
    pub async fn until(&self, limit: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let _ = eventually(limit, "watch events", || {
            let events = self.events();
            let finished = self.ended.lock().map(|e| e.is_some()).unwrap_or(true);
            let reached = done(&events);
            async move {
                Ok(if reached || finished {
                    Check::Done(())
                } else {
                    Check::Pending(format!("{} events", events.len()))
                })
            }
        })
        .await;
        self.events()
    }

    /// Waits for the server to end the stream (its `timeoutSeconds`), at most `limit`.
    pub async fn until_closed(&self, limit: Duration) -> Vec<Value> {
        self.until(limit, |_| false).await
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The `type` and `metadata.name` of each event: the sequence a watcher acts on.
pub fn event_names(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let kind = e["type"].as_str().unwrap_or("?");
            match e["object"]["metadata"]["name"].as_str() {
                Some(name) => format!("{kind} {name}"),
                None => kind.to_owned(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warning_headers_read_as_their_text() {
        assert_eq!(
            warning_text(r#"299 - "unknown field \"spec.x\"""#),
            r#"unknown field "spec.x""#
        );
    }
}
