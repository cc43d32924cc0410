//! Serialized documents and the cache of the one resource clients poll: a [`Rendered`] document
//! is the body's bytes with its ETag and schema `Link`, computed once; [`SystemCache`] keeps the
//! rendered ComputerSystem of each system and renders it again only when the state it shows
//! ([`SystemKey`]) has changed, so a GET of an unchanged System copies bytes instead of building,
//! serializing and hashing the document.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::document::{etag_of_bytes, json_bytes, schema_link, standard_headers};
use crate::fault::Health;
use crate::machine::{BootMode, BootOverride, BootSource, Machine, PowerState};

/// A document serialized once: its bytes, its strong ETag and its `Link: rel=describedby`.
#[derive(Debug, Clone)]
pub struct Rendered {
    bytes: Bytes,
    etag: Option<HeaderValue>,
    link: Option<HeaderValue>,
}

impl Rendered {
    /// Serializes `body` and derives its ETag and schema link.
    pub fn of(body: &Value) -> Self {
        let bytes = json_bytes(body);
        let etag = HeaderValue::from_str(&etag_of_bytes(&bytes)).ok();
        let link = schema_link(body).and_then(|l| HeaderValue::from_str(&l).ok());
        Self {
            bytes: Bytes::from(bytes),
            etag,
            link,
        }
    }

    /// The ETag, as sent.
    pub fn etag(&self) -> Option<&HeaderValue> {
        self.etag.as_ref()
    }

    /// The answer: `status`, the body and the standard headers (content type, OData version,
    /// cache control, `allow`), then the ETag and the schema link.
    pub fn response(&self, status: StatusCode, allow: &'static str) -> Response {
        let mut response = Response::new(Body::from(self.bytes.clone()));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        standard_headers(headers, allow);
        if let Some(v) = &self.etag {
            headers.insert(header::ETAG, v.clone());
        }
        if let Some(v) = &self.link {
            headers.insert(header::LINK, v.clone());
        }
        response
    }
}

/// Everything of a machine (and its BMC: installed BIOS version, health) that the ComputerSystem
/// document shows; the rest of the
/// document comes from the host's fixed hardware and names. `system::system_body` must read the
/// machine only through these fields, or the cache would serve stale bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemKey {
    power: PowerState,
    boot_override: BootOverride,
    boot_mode: BootMode,
    boot_order: Vec<BootSource>,
    bios_version: Option<String>,
    health: Health,
}

impl SystemKey {
    fn of(m: &Machine, bios_version: Option<&str>, health: Health) -> Self {
        Self {
            health,
            power: m.power(),
            boot_override: m.boot_override(),
            boot_mode: m.boot_mode(),
            boot_order: m.boot_order().to_vec(),
            bios_version: bios_version.map(str::to_string),
        }
    }

    /// Whether `m` (with `bios_version` installed) still shows what this key was taken from;
    /// compares in place, allocating nothing.
    fn shows(&self, m: &Machine, bios_version: Option<&str>, health: Health) -> bool {
        self.health == health
            && self.power == m.power()
            && self.boot_override == m.boot_override()
            && self.boot_mode == m.boot_mode()
            && self.boot_order.as_slice() == m.boot_order()
            && self.bios_version.as_deref() == bios_version
    }
}

type Slot = Mutex<Option<(SystemKey, Arc<Rendered>)>>;

/// The last rendered ComputerSystem of every system of a service, by the system's position.
#[derive(Debug)]
pub struct SystemCache {
    slots: Vec<Slot>,
}

impl SystemCache {
    /// An empty cache for `systems` systems.
    pub fn new(systems: usize) -> Self {
        Self {
            slots: (0..systems).map(|_| Mutex::new(None)).collect(),
        }
    }

    /// The rendered document of system number `index` whose machine is `m`: the cached one while
    /// `m` shows the same state, else `render()` serialized and kept. Call with the machine
    /// locked (inside `Host::with_machine`), so that no change slips between check and render.
    pub fn get_or_render(
        &self,
        index: usize,
        m: &Machine,
        bios_version: Option<&str>,
        health: Health,
        render: impl FnOnce() -> Value,
    ) -> Arc<Rendered> {
        let Some(slot) = self.slots.get(index) else {
            return Arc::new(Rendered::of(&render()));
        };
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((key, rendered)) = &*slot
            && key.shows(m, bios_version, health)
        {
            return Arc::clone(rendered);
        }
        let rendered = Arc::new(Rendered::of(&render()));
        *slot = Some((
            SystemKey::of(m, bios_version, health),
            Arc::clone(&rendered),
        ));
        rendered
    }
}
