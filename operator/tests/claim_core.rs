//! The pure HostClaim core: host choice, bind patch, later edits, status mirroring, release.

#[path = "claim_core/support.rs"]
mod support;

/// Host choice: eligibility, selectors, the seeded RNG, failure domains, namespaces, double binds.
#[path = "claim_core/choice.rs"]
mod choice;

/// The bind patch and later edits of a bound host.
#[path = "claim_core/binding.rs"]
mod binding;

/// The claim's status mirroring its host, bad input, and release.
#[path = "claim_core/status.rs"]
mod status;
