//! Fleet description (YAML): profiles, host groups with counts and name patterns, seeded identities,
//! BMC protocol, credentials and labels per group, address layout, time scale, seed and faults.
//!
//! [`Fleet::parse`] validates a file and expands it into one [`HostSpec`] per host; every error names
//! the file, line and column. [`Fleet::build_world`] turns it into a running [`World`]. The format is
//! documented with examples in `docs/fleet.md`; `fleets/demo.yaml` is the default demo fleet.

mod layout;
mod manifests;
mod profiles;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fault::FaultSet;
use crate::machine::{
    BmcEndpoint, BmcProtocol, Credentials, HostSpec, SimClock, Timing, World, derive_rng,
};

pub use layout::{Layout, LayoutError, LayoutMode};
pub use manifests::manifests;
pub use profiles::{
    DiskTemplate, HostIdentity, NicTemplate, PcieTemplate, ProfileTemplate, builtin_profiles,
};

/// The default demo fleet (`fleets/demo.yaml`): 4 hosts, 2 Redfish, 1 Redfish virtual media,
/// 1 IPMI, one of them a GPU server.
pub const DEMO_FLEET: &str = include_str!("../../../fleets/demo.yaml");

/// Largest fleet accepted (memory stays bounded whatever the file says).
pub const MAX_HOSTS: u64 = 100_000;

/// A fleet file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// Seed of every random choice (identities, jitter, fault draws).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Multiplier on every simulated duration (0.1 = ten times faster than a real server).
    #[serde(default = "default_time_scale")]
    pub time_scale: f64,
    /// Namespace of the generated BareMetalHosts and Secrets.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// BMC addresses and ports.
    #[serde(default)]
    pub layout: Layout,
    /// Extra hardware profiles (a name used by a built-in replaces it).
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileTemplate>,
    /// Faults for every host (a group's faults are laid over these).
    #[serde(default)]
    pub faults: FaultSet,
    /// What the machines' disks boot into (which images are Kubernetes node images).
    #[serde(default)]
    pub guest: GuestFile,
    /// Host groups, in order.
    pub groups: Vec<Group>,
}

/// The `guest:` section: the operating system the machines boot from disk (`crate::guest`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestFile {
    /// An image whose URL contains one of these texts is a Kubernetes node image: on boot, cloud-init
    /// runs on its config drive and a kubelet joins the cluster its user data names. Empty: none is.
    #[serde(default)]
    pub node_images: Vec<String>,
}

fn default_seed() -> u64 {
    1
}
fn default_time_scale() -> f64 {
    1.0
}
fn default_namespace() -> String {
    "metal3".to_string()
}

/// A group of identical hosts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Name pattern: `{index}` or `{index:03}` is replaced by the host's number in the group.
    pub name: String,
    /// Number of hosts.
    #[serde(default = "default_count")]
    pub count: u32,
    /// Number of the first host.
    #[serde(default)]
    pub start: u32,
    /// Hardware profile name.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// BMC protocol and credentials.
    #[serde(default)]
    pub bmc: BmcSettings,
    /// Labels put on each host's BareMetalHost.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Faults of these hosts (over the fleet-wide ones).
    #[serde(default)]
    pub faults: FaultSet,
}

fn default_count() -> u32 {
    1
}
fn default_profile() -> String {
    "compute".to_string()
}

/// BMC settings of a group.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BmcSettings {
    /// `redfish`, `redfish-virtualmedia` or `ipmi`.
    pub protocol: BmcProtocol,
    /// Redfish over HTTPS (self-signed certificate).
    pub tls: bool,
    /// BMC user name.
    pub username: String,
    /// BMC password.
    pub password: String,
}

impl std::fmt::Debug for BmcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcSettings")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

impl Default for BmcSettings {
    fn default() -> Self {
        BmcSettings {
            protocol: BmcProtocol::Redfish,
            tls: false,
            username: "admin".into(),
            password: "password".into(),
        }
    }
}

/// A fleet file that cannot be used. Displays as `file:line:column: message`.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The file could not be read.
    #[error("{file}: cannot read fleet file: {source}")]
    Read {
        /// Path.
        file: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Syntax or content error at a position.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// Path (or `<demo>` for the built-in fleet).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
}

/// A validated fleet, expanded to one spec per host.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The file as parsed.
    pub file: FleetFile,
    /// Where it came from (a path, or `<demo>`).
    pub source: String,
    hosts: Vec<HostSpec>,
}

impl Fleet {
    /// Reads and validates a fleet file.
    pub fn load(path: &Path) -> Result<Fleet, FleetError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| FleetError::Read {
            file: file.clone(),
            source,
        })?;
        Fleet::parse(&text, &file)
    }

    /// The default demo fleet.
    pub fn demo() -> Result<Fleet, FleetError> {
        Fleet::parse(DEMO_FLEET, "<demo>")
    }

    /// Parses and validates fleet YAML; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Fleet, FleetError> {
        let file: FleetFile = serde_yaml::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            FleetError::Invalid {
                file: source.to_string(),
                line,
                column,
                message: e.to_string(),
            }
        })?;
        let hosts = expand(&file).map_err(|p| {
            let (line, column) = p.locate(text);
            FleetError::Invalid {
                file: source.to_string(),
                line,
                column,
                message: p.message,
            }
        })?;
        Ok(Fleet {
            file,
            source: source.to_string(),
            hosts,
        })
    }

    /// Validates an already-parsed file (e.g. after command-line overrides); errors point at 1:1.
    pub fn from_file(file: FleetFile, source: &str) -> Result<Fleet, FleetError> {
        let hosts = expand(&file).map_err(|p| FleetError::Invalid {
            file: source.to_string(),
            line: 1,
            column: 1,
            message: p.message,
        })?;
        Ok(Fleet {
            file,
            source: source.to_string(),
            hosts,
        })
    }

    /// One spec per host, in group order.
    pub fn hosts(&self) -> &[HostSpec] {
        &self.hosts
    }

    /// Nominal machine timing multiplied by the fleet's time scale.
    pub fn timing(&self) -> Timing {
        Timing::nominal().scaled(self.file.time_scale)
    }

    /// Builds the world (every host powered off) with `clock` as its time source.
    pub fn build_world(&self, clock: SimClock) -> Result<World, FleetError> {
        World::new(self.file.seed, self.timing(), clock, self.hosts.clone()).map_err(|e| {
            FleetError::Invalid {
                file: self.source.clone(),
                line: 1,
                column: 1,
                message: e.to_string(),
            }
        })
    }
}

/// A content error before it is placed in the text: the key and value to look for.
struct Problem {
    key: &'static str,
    value: Option<String>,
    message: String,
}

impl Problem {
    fn new(key: &'static str, value: Option<&str>, message: String) -> Self {
        Problem {
            key,
            value: value.map(str::to_string),
            message,
        }
    }

    /// Finds the first `key: value` (or `key:` alone) in a key position; 1:1 when absent.
    fn locate(&self, text: &str) -> (usize, usize) {
        let needle = format!("{}:", self.key);
        for (n, line) in text.lines().enumerate() {
            let mut from = 0;
            while let Some(off) = line[from..].find(&needle) {
                let pos = from + off;
                from = pos + needle.len();
                let prev = line[..pos].trim_end().chars().last();
                if !matches!(prev, None | Some('-' | '{' | ',')) {
                    continue;
                }
                let rest = line[from..].trim_start().trim_start_matches(['"', '\'']);
                if self.value.as_deref().is_none_or(|v| rest.starts_with(v)) {
                    return (n + 1, pos + 1);
                }
            }
        }
        (1, 1)
    }
}

/// The slowest a fleet may run: a thousand times slower than real servers (larger factors overflow
/// the machines' durations and are no use).
pub const MAX_TIME_SCALE: f64 = 1000.0;
/// The widest `{index:0N}` (a u32 has 10 digits; wider only pads).
const MAX_INDEX_WIDTH: usize = 20;

fn render_name(pattern: &str, index: u32) -> Result<String, String> {
    let Some(open) = pattern.find("{index") else {
        return Ok(pattern.to_string());
    };
    let close = pattern[open..]
        .find('}')
        .map(|c| open + c)
        .ok_or("unclosed `{index` in name pattern")?;
    let spec = &pattern[open + "{index".len()..close];
    let number = match spec {
        "" => index.to_string(),
        s if s.starts_with(":0") => {
            let width: usize = s[2..]
                .parse()
                .ok()
                .filter(|w| *w <= MAX_INDEX_WIDTH)
                .ok_or_else(|| {
                    format!("bad width in `{{index{s}}}` (a number up to {MAX_INDEX_WIDTH})")
                })?;
            format!("{index:0width$}")
        }
        s => {
            return Err(format!(
                "unknown name placeholder `{{index{s}}}` (use {{index}} or {{index:03}})"
            ));
        }
    };
    Ok(format!(
        "{}{}{}",
        &pattern[..open],
        number,
        &pattern[close + 1..]
    ))
}

/// A Kubernetes object name (RFC 1123 subdomain).
fn valid_object_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .as_bytes()
            .first()
            .is_some_and(u8::is_ascii_alphanumeric)
        && name
            .as_bytes()
            .last()
            .is_some_and(u8::is_ascii_alphanumeric)
}

fn expand(file: &FleetFile) -> Result<Vec<HostSpec>, Problem> {
    if !(file.time_scale.is_finite() && (0.0..=MAX_TIME_SCALE).contains(&file.time_scale)) {
        return Err(Problem::new(
            "time_scale",
            None,
            format!(
                "time_scale must be a number from 0 to {MAX_TIME_SCALE}, got {}",
                file.time_scale
            ),
        ));
    }
    if !valid_object_name(&file.namespace) {
        return Err(Problem::new(
            "namespace",
            None,
            format!(
                "namespace {:?} is not a valid Kubernetes name",
                file.namespace
            ),
        ));
    }
    file.faults
        .validate()
        .map_err(|e| Problem::new("faults", None, e.to_string()))?;
    if file.groups.is_empty() {
        return Err(Problem::new(
            "groups",
            None,
            "a fleet needs at least one group".into(),
        ));
    }
    let mut profiles = builtin_profiles();
    profiles.extend(file.profiles.clone());

    let mut names = BTreeSet::new();
    let mut planned = Vec::new();
    for g in &file.groups {
        let at_name = |msg: String| Problem::new("name", Some(&g.name), msg);
        if g.count == 0 {
            return Err(at_name(format!("group {:?} has count 0", g.name)));
        }
        if g.count > 1 && !g.name.contains("{index") {
            return Err(at_name(format!(
                "group {:?} has {} hosts but no {{index}} in its name pattern",
                g.name, g.count
            )));
        }
        let template = profiles.get(&g.profile).ok_or_else(|| {
            let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
            Problem::new(
                "profile",
                Some(&g.profile),
                format!(
                    "unknown profile {:?} (known: {})",
                    g.profile,
                    known.join(", ")
                ),
            )
        })?;
        template.validate().map_err(|why| {
            Problem::new(
                "profile",
                Some(&g.profile),
                format!("profile {:?}: {why}", g.profile),
            )
        })?;
        if u64::from(g.count) + planned.len() as u64 > MAX_HOSTS {
            return Err(at_name(format!("a fleet has at most {MAX_HOSTS} hosts")));
        }
        if g.bmc.username.is_empty() || g.bmc.password.is_empty() {
            return Err(Problem::new(
                "bmc",
                None,
                format!(
                    "group {:?}: BMC username and password must not be empty",
                    g.name
                ),
            ));
        }
        let mut faults = file.faults.clone();
        faults.merge(&g.faults);
        faults
            .validate()
            .map_err(|e| Problem::new("faults", None, format!("group {:?}: {e}", g.name)))?;
        for i in 0..g.count {
            let number = g
                .start
                .checked_add(i)
                .ok_or_else(|| at_name("host number overflows".into()))?;
            let name = render_name(&g.name, number).map_err(at_name)?;
            if !valid_object_name(&name) {
                return Err(at_name(format!(
                    "host name {name:?} is not a valid Kubernetes name (lower-case letters, digits, '-', '.')"
                )));
            }
            if !names.insert(name.clone()) {
                return Err(at_name(format!("host name {name:?} is used twice")));
            }
            planned.push((name, g, template, faults.clone()));
        }
    }
    let bmcs: Vec<(BmcProtocol, bool)> = planned
        .iter()
        .map(|(_, g, _, _)| (g.bmc.protocol, g.bmc.tls))
        .collect();
    let sockets = file
        .layout
        .assign(&bmcs)
        .map_err(|e| Problem::new("layout", None, e.to_string()))?;

    let mut hosts = Vec::with_capacity(planned.len());
    for (index, ((name, g, template, faults), socket)) in
        planned.into_iter().zip(sockets).enumerate()
    {
        let index_u32 = u32::try_from(index)
            .map_err(|_| Problem::new("groups", None, "too many hosts".into()))?;
        let mut rng = derive_rng(file.seed, "profile", u64::from(index_u32));
        let profile = template.generate(
            &g.profile,
            HostIdentity {
                seed: file.seed,
                index: index_u32,
            },
            &mut rng,
        );
        let system_id = profile.system.uuid.to_string();
        hosts.push(HostSpec {
            name,
            labels: g.labels.clone(),
            bmc: BmcEndpoint {
                protocol: g.bmc.protocol,
                socket,
                tls: g.bmc.tls && g.bmc.protocol.is_redfish(),
                system_id,
                credentials: Credentials {
                    username: g.bmc.username.clone(),
                    password: g.bmc.password.clone(),
                },
            },
            profile,
            faults,
        });
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns_render_plain_and_padded_numbers() {
        assert_eq!(render_name("worker-{index}", 7).unwrap(), "worker-7");
        assert_eq!(render_name("w{index:03}-x", 7).unwrap(), "w007-x");
        assert_eq!(render_name("single", 7).unwrap(), "single");
        assert!(render_name("w{index:x}", 1).is_err());
        assert!(render_name("w{index", 1).is_err());
    }

    #[test]
    fn the_demo_fleet_has_the_documented_mix() {
        let f = Fleet::demo().unwrap();
        let protocols: Vec<BmcProtocol> = f.hosts().iter().map(|h| h.bmc.protocol).collect();
        assert_eq!(
            protocols
                .iter()
                .filter(|p| **p == BmcProtocol::Redfish)
                .count(),
            2
        );
        assert_eq!(
            protocols
                .iter()
                .filter(|p| **p == BmcProtocol::RedfishVirtualmedia)
                .count(),
            1
        );
        assert_eq!(
            protocols
                .iter()
                .filter(|p| **p == BmcProtocol::Ipmi)
                .count(),
            1
        );
        assert_eq!(
            f.hosts()
                .iter()
                .filter(|h| h.profile.gpu_count() == 4)
                .count(),
            1
        );
    }
}
