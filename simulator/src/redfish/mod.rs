//! Placeholder until this concept lands; see lib.rs.
