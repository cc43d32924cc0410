//! Fake IPMI 2.0 BMC (RMCP+ over UDP) and our own RMCP+ client.
//!
//! Layers, innermost first: [`packet`] and [`message`] (framing, pure), [`crypto`] (RAKP and
//! payload protection, pure), [`session`] (handshake state machine, pure).

pub mod crypto;
pub mod message;
pub mod packet;
pub mod session;
