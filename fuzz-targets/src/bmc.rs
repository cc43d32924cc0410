//! BMC addresses as a BareMetalHost's `spec.bmc.address` gives them, through
//! `metal_core::bmc::BmcAddress::parse` (what the operator calls on every host).

use metal_core::bmc::BmcAddress;

/// Parsing refuses with a typed error or gives an address whose canonical form parses back to
/// the same address (kind, transport, host, port, path).
pub fn addresses(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(address) = BmcAddress::parse(text) else {
        return;
    };
    let _ = address.redfish_address();
    let _ = address.redfish_system_id();
    let canonical = address.canonical();
    let again = BmcAddress::parse(&canonical)
        .unwrap_or_else(|e| panic!("{text:?}: its canonical form {canonical:?} is refused: {e}"));
    assert_eq!(
        (
            again.kind,
            again.transport,
            &again.host,
            again.effective_port(),
            &again.path
        ),
        (
            address.kind,
            address.transport,
            &address.host,
            address.effective_port(),
            &address.path
        ),
        "{text:?} and its canonical form {canonical:?} differ"
    );
    assert_eq!(
        again.canonical(),
        canonical,
        "{text:?}: canonical form not stable"
    );
}
