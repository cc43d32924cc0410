//! What a node PATCH may not do: read a field Ironic never shows (BMC passwords, instance
//! secrets, the config drive) by copying, moving or testing it.

use crate::ironic::error::ApiError;

/// Refuses an operation that would read a secret Ironic never shows — a `copy` or `move` whose
/// `from` is (or contains) a masked field, or a `test` of one (a password-guessing oracle) — so a
/// patch cannot put a BMC password or the user data where it can be read.
pub(crate) fn refuse_secret_reads(op: &json_patch::PatchOperation) -> Result<(), ApiError> {
    use json_patch::PatchOperation as Op;
    let (verb, pointer) = match op {
        Op::Copy(c) => ("copy", c.from.to_string()),
        Op::Move(m) => ("move", m.from.to_string()),
        Op::Test(t) => ("test", t.path.to_string()),
        _ => return Ok(()),
    };
    if reads_secret(&pointer) {
        return Err(ApiError::BadRequest(format!(
            "Cannot {verb} {}: it holds or contains a secret field",
            if pointer.is_empty() { "/" } else { &pointer }
        )));
    }
    Ok(())
}

/// True when the JSON pointer names a masked field, or an object containing one (the whole
/// document, `/driver_info`, `/instance_info`).
fn reads_secret(pointer: &str) -> bool {
    let unescape = |s: &str| s.replace("~1", "/").replace("~0", "~");
    let mut parts = pointer.split('/').skip(1).map(unescape);
    match (parts.next().as_deref(), parts.next()) {
        (None, _) => true,
        (Some("driver_info" | "instance_info"), None) => true,
        (Some("driver_info"), Some(key)) => crate::ironic::model::is_driver_secret(&key),
        (Some("instance_info"), Some(key)) => crate::ironic::model::is_instance_secret(&key),
        _ => false,
    }
}
