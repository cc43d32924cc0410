//! The mock's API without a socket: requests go through the same router, middleware (microversion,
//! journal, API fault switch) and handlers as over HTTP, so engine mode runs the operator's own
//! Ironic client and provisioner against the mock's own node rules.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, header};
use metal_core::provisioner::ironic::transport::{Request, Response, Transport};
use tower::ServiceExt;

use super::{AppState, app};

/// The `Host` the mock builds its links from (no socket, so no address).
const HOST: &str = "ironic.in-process";

/// The mock Ironic's API as a [`Transport`] for the operator's Ironic client.
#[derive(Clone)]
pub struct InProcess {
    router: Router,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InProcess")
    }
}

impl InProcess {
    /// The API of the mock holding `state`.
    pub fn new(state: AppState) -> InProcess {
        InProcess { router: app(state) }
    }
}

#[async_trait::async_trait]
impl Transport for InProcess {
    async fn send(&self, request: Request) -> Result<Response, String> {
        let mut builder = axum::http::Request::builder()
            .method(request.method.clone())
            .uri(&request.path)
            .header(header::HOST, HeaderValue::from_static(HOST))
            .header(header::ACCEPT, "application/json");
        if let Some((name, value)) = request.version_header() {
            builder = builder.header(name, value);
        }
        let body = match request.body {
            Some(bytes) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let http_request = builder
            .body(body)
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let answer = match self.router.clone().oneshot(http_request).await {
            Ok(answer) => answer,
            Err(never) => match never {},
        };
        let status = answer.status().as_u16();
        let body = axum::body::to_bytes(answer.into_body(), usize::MAX)
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        Ok(Response {
            status,
            body: body.to_vec(),
        })
    }

    /// Refuses, always: engine mode runs each call to completion on its own thread
    /// (`futures::executor::block_on`, no timer) and advances virtual time only between events,
    /// so nothing inside a call may wait. No operator path it runs (`round`, the flows) pauses;
    /// the polling lifecycle drivers (`full_lifecycle`, `provision_cycle`) are for wire mode, and
    /// given this transport they fail with this text instead of spinning.
    async fn pause(&self, duration: std::time::Duration) -> Result<(), String> {
        Err(format!(
            "the in-process Ironic API cannot pause ({duration:?}): engine mode advances virtual \
             time only between events"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use metal_core::provisioner::ProvisionerError;
    use metal_core::provisioner::ironic::IronicClient;

    use super::*;
    use crate::ironic::conductor::Settings;

    #[test]
    fn a_client_over_the_in_process_api_answers_but_refuses_to_pause() {
        let clock: crate::ironic::Clock = Arc::new(chrono::Utc::now);
        let client = IronicClient::over(InProcess::new(AppState::in_process(
            Settings::default(),
            1,
            clock,
        )));
        futures::executor::block_on(async {
            let version = client
                .api_version()
                .await
                .expect("version discovery answers");
            assert!(version.minor > 0, "{version:?}");
            match client.pause("lifecycle", Duration::from_secs(1)).await {
                Err(ProvisionerError::Protocol { operation, message }) => {
                    assert_eq!(operation, "lifecycle");
                    assert!(message.contains("cannot pause"), "{message}");
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        });
    }
}
