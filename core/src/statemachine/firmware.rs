//! BIOS settings in `available` and `preparing`: does the node still need the settings its
//! HostFirmwareSettings asks for? The conditions the firmware-settings controller wrote say
//! whether a valid change is wanted; the settings to apply are always computed from a fresh read
//! of the node's settings, so a status not yet refreshed after a clean never starts a second one.

use serde_json::{Value, json};

use super::backoff::jittered;
use super::draft::Draft;
use super::{BiosFetch, Effect};
use crate::firmware::{self, Pending};

/// What the host's BIOS settings ask of the state it is in.
pub(crate) enum Needed {
    /// Nothing to apply.
    Nothing,
    /// The decision is made (read the settings, wait for the status, retry the read).
    Decided,
    /// These `bios.apply_configuration` settings, `[{"name", "value"}]`.
    Apply(Vec<Value>),
}

pub(crate) fn needed<R: rand::Rng + ?Sized>(d: &mut Draft<'_>, state: &str, rng: &mut R) -> Needed {
    let settings = d.input.settings;
    let Some(hfs) = d.input.firmware.settings else {
        return Needed::Nothing;
    };
    match firmware::pending(Some(hfs)) {
        Pending::Nothing => Needed::Nothing,
        Pending::NotReady(why) => {
            d.requeue(settings.short_delay);
            d.because(format!(
                "{state}: waiting for the firmware settings' status ({why})"
            ));
            Needed::Decided
        }
        Pending::Changes => match &d.input.firmware.current {
            BiosFetch::NotFetched => {
                d.effect(Effect::FetchBiosSettings);
                d.requeue_now();
                d.because(format!("{state}: reading the node's BIOS settings"));
                Needed::Decided
            }
            BiosFetch::Unavailable(why) => {
                d.poll(jittered(settings.long_delay, rng));
                d.because(format!("{state}: BIOS settings unavailable ({why})"));
                Needed::Decided
            }
            BiosFetch::Found(current) => {
                let apply = firmware::changes(&hfs.spec.settings, current);
                if apply.is_empty() {
                    Needed::Nothing
                } else {
                    Needed::Apply(apply)
                }
            }
        },
    }
}

/// The manual clean that applies `settings`.
pub(crate) fn clean_steps(settings: Vec<Value>) -> Vec<Value> {
    vec![json!({
        "interface": "bios",
        "step": "apply_configuration",
        "args": {"settings": settings},
    })]
}
