//! SessionService: `X-Auth-Token` sessions with an idle timeout, created by POSTing credentials
//! and ended by DELETE (logout); plus the authentication gate in front of every protected URI.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::account::Account;
use super::document::{self, ALLOW_GET_DELETE, ALLOW_GET_PATCH, ALLOW_GET_POST, Document};
use super::error::RedfishError;
use super::metadata::types;
use super::service::RedfishState;
use crate::machine::time::SimTime;

/// Idle timeout of a session unless configured otherwise (the Redfish default, 30 minutes).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(1800);
/// Bounds on the timeout a client may PATCH into SessionService.
const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 30..=86_400;
/// At most this many live sessions per service; the oldest idle one is evicted beyond it.
const MAX_SESSIONS: usize = 256;

/// One open session.
#[derive(Clone)]
struct Session {
    id: String,
    token: String,
    account: usize,
    username: String,
    /// Order of opening (ids are random, so listings sort by this).
    opened: u64,
    last_used: SimTime,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .field("account", &self.account)
            .field("username", &self.username)
            .field("last_used", &self.last_used)
            .finish()
    }
}

/// The sessions of one Redfish service, keyed by id; ids and tokens come from the operating
/// system's random generator (never the fleet's seed: they are secrets, not behaviour).
#[derive(Debug)]
pub struct SessionStore {
    sessions: HashMap<String, Session>,
    timeout: Duration,
    opened: u64,
}

impl SessionStore {
    /// An empty store.
    pub fn new(timeout: Duration) -> Self {
        Self {
            sessions: HashMap::new(),
            timeout,
            opened: 0,
        }
    }

    /// The idle timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn expire(&mut self, now: SimTime) {
        let timeout = self.timeout;
        self.sessions
            .retain(|_, s| now.saturating_since(s.last_used) < timeout);
    }

    /// Opens a session for account number `account` named `username`; returns (id, token).
    pub fn open(&mut self, account: usize, username: &str, now: SimTime) -> (String, String) {
        self.expire(now);
        if self.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = self
                .sessions
                .values()
                .min_by_key(|s| s.last_used)
                .map(|s| s.id.clone())
        {
            self.sessions.remove(&oldest);
        }
        let id = loop {
            let id = metal_tls::secret::random_hex(8);
            if !self.sessions.contains_key(&id) {
                break id;
            }
        };
        self.opened += 1;
        let token = metal_tls::secret::random_hex(16);
        self.sessions.insert(
            id.clone(),
            Session {
                id: id.clone(),
                token: token.clone(),
                account,
                username: username.to_string(),
                opened: self.opened,
                last_used: now,
            },
        );
        (id, token)
    }

    /// The account of a live session with `token`, refreshing its idle timer.
    pub fn authenticate(&mut self, token: &str, now: SimTime) -> Option<usize> {
        self.expire(now);
        let session = self
            .sessions
            .values_mut()
            .find(|s| metal_tls::secret::eq(s.token.as_bytes(), token.as_bytes()))?;
        session.last_used = now;
        Some(session.account)
    }

    /// Ends a session; false if it did not exist.
    pub fn close(&mut self, id: &str, now: SimTime) -> bool {
        self.expire(now);
        self.sessions.remove(id).is_some()
    }

    /// Ids of live sessions, oldest first.
    pub fn ids(&mut self, now: SimTime) -> Vec<String> {
        self.expire(now);
        let mut sessions: Vec<&Session> = self.sessions.values().collect();
        sessions.sort_by_key(|s| s.opened);
        sessions.into_iter().map(|s| s.id.clone()).collect()
    }

    /// The user of a live session by id.
    pub fn user_of(&mut self, id: &str, now: SimTime) -> Option<String> {
        self.expire(now);
        self.sessions.get(id).map(|s| s.username.clone())
    }

    /// The account (index) of a live session by id.
    pub fn account_of(&mut self, id: &str, now: SimTime) -> Option<usize> {
        self.expire(now);
        self.sessions.get(id).map(|s| s.account)
    }

    /// Changes the idle timeout.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
}

/// The index of the account matching `username`/`password`.
pub fn check_password(accounts: &[Account], username: &str, password: &str) -> Option<usize> {
    accounts.iter().position(|a| {
        a.username == username && metal_tls::secret::eq(a.password.as_bytes(), password.as_bytes())
    })
}

/// URIs anyone may read without credentials (the Redfish specification's unauthenticated set).
fn is_public(method: &Method, path: &str) -> bool {
    let path = path.trim_end_matches('/');
    matches!(
        path,
        "/redfish" | "/redfish/v1" | "/redfish/v1/odata" | "/redfish/v1/$metadata"
    ) || (method == Method::POST && path == "/redfish/v1/SessionService/Sessions")
}

/// The user named by an `Authorization: Basic` or `X-Auth-Token` header, if valid.
fn authenticated_account(state: &RedfishState, headers: &HeaderMap) -> Option<usize> {
    if let Some(token) = headers.get("X-Auth-Token").and_then(|v| v.to_str().ok()) {
        let now = state.now();
        return state.sessions().authenticate(token, now);
    }
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    // Decoded on the stack; credentials longer than the buffer (none in practice) on the heap.
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut buffer = [0u8; BASIC_CREDENTIALS_STACK];
    let long;
    let decoded: &[u8] = match engine.decode_slice(encoded.trim(), &mut buffer) {
        Ok(n) => &buffer[..n],
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            long = engine.decode(encoded.trim()).ok()?;
            &long
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => return None,
    };
    let text = std::str::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    check_password(state.accounts(), user, password)
}

/// The longest `user:password` of an `Authorization: Basic` header decoded without allocating.
const BASIC_CREDENTIALS_STACK: usize = 512;

/// The system a URI is about (`/redfish/v1/{Systems|Managers|Chassis}/{id}/...`), if any, with its
/// id percent-decoded as the router decodes it for the handler (`Err` when the escapes do not decode:
/// such a request is refused, not let through unchecked).
fn system_in_path(path: &str) -> Option<Result<String, ()>> {
    let mut parts = path.strip_prefix("/redfish/v1/")?.split('/');
    let collection = parts.next()?;
    let id = parts.next().filter(|s| !s.is_empty())?;
    matches!(collection, "Systems" | "Managers" | "Chassis").then(|| percent_decode(id))
}

/// `%41` → `A`; `Err` for a bad escape or bytes that are not UTF-8.
pub(crate) fn percent_decode(text: &str) -> Result<String, ()> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(())?;
            let hex = std::str::from_utf8(hex).map_err(|_| ())?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ())
}

/// The account a request authenticated as, put in its extensions by [`require_auth`].
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub usize);

/// Whether account `caller` may manage system `id`.
pub(crate) fn may_manage(state: &RedfishState, caller: usize, id: &str) -> bool {
    state
        .accounts()
        .get(caller)
        .is_some_and(|a| a.systems.iter().any(|s| s == id))
}

/// Middleware: refuses protected URIs without valid credentials (401 + `WWW-Authenticate`), and
/// a system's URIs to an account that is not that system's BMC login (403; this only matters in
/// the single-address layout, where one service fronts hosts with different credentials).
pub async fn require_auth(
    State(state): State<RedfishState>,
    mut request: Request,
    next: Next,
) -> Response {
    if is_public(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    let Some(account) = authenticated_account(&state, request.headers()) else {
        tracing::info!(
            method = %request.method(),
            path = request.uri().path(),
            "redfish request refused: no valid credentials"
        );
        return RedfishError::Unauthorized.into_response();
    };
    match system_in_path(request.uri().path()) {
        Some(Err(())) => {
            return RedfishError::NotFound {
                uri: request.uri().path().to_owned(),
            }
            .into_response();
        }
        Some(Ok(system))
            if state.host(&system).is_some() && !may_manage(&state, account, &system) =>
        {
            tracing::info!(
                path = request.uri().path(),
                "redfish request refused: account is not this system's login"
            );
            return RedfishError::Forbidden.into_response();
        }
        _ => {}
    }
    request.extensions_mut().insert(Caller(account));
    next.run(request).await
}

/// `GET /redfish/v1/SessionService`.
pub async fn get_service(State(state): State<RedfishState>) -> Document {
    Document::ok(service_body(&state), ALLOW_GET_PATCH)
}

fn service_body(state: &RedfishState) -> Value {
    let timeout = state.sessions().timeout().as_secs();
    json!({
        "@odata.id": "/redfish/v1/SessionService",
        "@odata.type": types::SESSION_SERVICE,
        "Id": "SessionService",
        "Name": "Session Service",
        "Description": "Session Service",
        "ServiceEnabled": true,
        "SessionTimeout": timeout,
        "Status": {"State": "Enabled", "Health": "OK"},
        "Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"},
    })
}

/// `PATCH /redfish/v1/SessionService`: only `SessionTimeout` is writable.
pub async fn patch_service(
    State(state): State<RedfishState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Document, RedfishError> {
    let uri = "/redfish/v1/SessionService";
    document::check_if_match(&headers, &document::etag_of(&service_body(&state)), uri)?;
    let patch = document::parse_object(&body)?;
    let mut timeout = None;
    for (key, value) in &patch {
        match key.as_str() {
            "SessionTimeout" => {
                let secs = value
                    .as_u64()
                    .ok_or_else(|| RedfishError::PropertyValueTypeError {
                        property: key.clone(),
                        value: value.to_string(),
                    })?;
                if !TIMEOUT_RANGE.contains(&secs) {
                    return Err(RedfishError::PropertyValueNotInList {
                        property: key.clone(),
                        value: value.to_string(),
                    });
                }
                timeout = Some(Duration::from_secs(secs));
            }
            other => {
                return Err(RedfishError::PropertyNotWritable {
                    property: other.to_string(),
                });
            }
        }
    }
    if let Some(t) = timeout {
        state.sessions().set_timeout(t);
    }
    Ok(Document::ok(service_body(&state), ALLOW_GET_PATCH))
}

/// `GET /redfish/v1/SessionService/Sessions`.
pub async fn list(
    State(state): State<RedfishState>,
    caller: Option<axum::Extension<Caller>>,
) -> Document {
    let now = state.now();
    let mut sessions = state.sessions();
    let mine = |id: &String, sessions: &mut SessionStore| {
        caller.is_some_and(|c| sessions.account_of(id, now) == Some(c.0.0))
    };
    let all = sessions.ids(now);
    let ids: Vec<String> = all
        .into_iter()
        .filter(|id| mine(id, &mut sessions))
        .collect();
    drop(sessions);
    let members: Vec<Value> = ids
        .iter()
        .map(|id| json!({"@odata.id": format!("/redfish/v1/SessionService/Sessions/{id}")}))
        .collect();
    Document::ok(
        json!({
            "@odata.id": "/redfish/v1/SessionService/Sessions",
            "@odata.type": types::SESSION_COLLECTION,
            "Name": "Session Collection",
            "Members@odata.count": members.len(),
            "Members": members,
        }),
        ALLOW_GET_POST,
    )
}

fn session_body(id: &str, username: &str) -> Value {
    json!({
        "@odata.id": format!("/redfish/v1/SessionService/Sessions/{id}"),
        "@odata.type": types::SESSION,
        "Id": id,
        "Name": format!("Session {id}"),
        "Description": "User session",
        "UserName": username,
        "Password": null,
    })
}

/// `POST /redfish/v1/SessionService/Sessions`: logs in with `UserName`/`Password`.
pub async fn create(
    State(state): State<RedfishState>,
    body: Bytes,
) -> Result<Response, RedfishError> {
    let request = document::parse_object(&body)?;
    let field = |name: &str| -> Result<String, RedfishError> {
        match request.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(RedfishError::PropertyValueTypeError {
                property: name.to_string(),
                value: if name == "Password" {
                    "<redacted>".to_string()
                } else {
                    other.to_string()
                },
            }),
            None => Err(RedfishError::ActionParameterMissing {
                action: "Session creation".to_string(),
                parameter: name.to_string(),
            }),
        }
    };
    let username = field("UserName")?;
    let password = field("Password")?;
    let now = state.now();
    let Some(account) = check_password(state.accounts(), &username, &password) else {
        tracing::info!(user = %username, "redfish session refused: wrong credentials");
        return Err(RedfishError::Unauthorized);
    };
    let (id, token) = state.sessions().open(account, &username, now);
    tracing::info!(user = %username, session = %id, "redfish session opened");
    let location = format!("/redfish/v1/SessionService/Sessions/{id}");
    Ok(
        Document::created(session_body(&id, &username), ALLOW_GET_DELETE, location)
            .with_header("X-Auth-Token", token)
            .into_response(),
    )
}

/// `GET /redfish/v1/SessionService/Sessions/{id}`.
pub async fn get(
    State(state): State<RedfishState>,
    caller: Option<axum::Extension<Caller>>,
    Path(id): Path<String>,
) -> Result<Document, RedfishError> {
    let now = state.now();
    let not_found = || RedfishError::NotFound {
        uri: format!("/redfish/v1/SessionService/Sessions/{id}"),
    };
    // Another account's session is as invisible as one that does not exist.
    let mut sessions = state.sessions();
    if caller.map(|c| c.0.0) != sessions.account_of(&id, now) {
        return Err(not_found());
    }
    let user = sessions.user_of(&id, now).ok_or_else(not_found)?;
    drop(sessions);
    Ok(Document::ok(session_body(&id, &user), ALLOW_GET_DELETE))
}

/// `DELETE /redfish/v1/SessionService/Sessions/{id}`: logout.
pub async fn delete(
    State(state): State<RedfishState>,
    caller: Option<axum::Extension<Caller>>,
    Path(id): Path<String>,
) -> Result<Response, RedfishError> {
    let now = state.now();
    let mut sessions = state.sessions();
    let own = caller.is_some_and(|c| sessions.account_of(&id, now) == Some(c.0.0));
    if own && sessions.close(&id, now) {
        tracing::info!(session = %id, "redfish session closed");
        Ok(document::no_content(ALLOW_GET_DELETE))
    } else {
        Err(RedfishError::NotFound {
            uri: format!("/redfish/v1/SessionService/Sessions/{id}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SessionStore {
        SessionStore::new(Duration::from_secs(60))
    }

    #[test]
    fn idle_sessions_expire_and_use_keeps_them_alive() {
        let mut s = store();
        let (_, token) = s.open(0, "admin", SimTime::from_secs(0));
        assert_eq!(s.authenticate(&token, SimTime::from_secs(59)), Some(0));
        assert_eq!(s.authenticate(&token, SimTime::from_secs(118)), Some(0));
        assert_eq!(s.authenticate(&token, SimTime::from_secs(178)), None);
    }

    #[test]
    fn logout_ends_only_that_session() {
        let mut s = store();
        let now = SimTime::from_secs(1);
        let (a, token_a) = s.open(0, "admin", now);
        let (_, token_b) = s.open(0, "admin", now);
        assert_ne!(token_a, token_b);
        assert!(s.close(&a, now));
        assert!(!s.close(&a, now));
        assert_eq!(s.authenticate(&token_a, now), None);
        assert!(s.authenticate(&token_b, now).is_some());
    }

    #[test]
    fn listing_is_in_order_of_opening() {
        let mut s = store();
        let opened: Vec<String> = (0..5)
            .map(|_| s.open(0, "admin", SimTime::ZERO).0)
            .collect();
        assert_eq!(s.ids(SimTime::ZERO), opened);
    }

    #[test]
    fn a_session_debug_shows_no_token() {
        let mut s = store();
        let (id, token) = s.open(0, "admin", SimTime::ZERO);
        let printed = format!("{s:?}");
        assert!(printed.contains(&id) && printed.contains("<redacted>"));
        assert!(!printed.contains(&token), "{printed}");
    }
}
