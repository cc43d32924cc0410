//! The fake agent: command bodies through `agent::Request::parse` and `Agent::execute` (what the
//! agent's `POST /v1/commands` handler calls), and image checksums through `ImageInfo::parse`,
//! `ImageInfo::digest_from_file` and `image::verify` (what `write_image` calls).

use metal_sim::agent::image::{self, Expected, ImageInfo};
use metal_sim::agent::{Agent, Request};
use metal_sim::machine::SimClock;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::http::split;

/// Each line of the input is a command body (JSON); it is refused with a typed error or
/// executed by the agent of the fuzz fleet's powered-on Redfish host, one after the other.
pub fn commands(data: &[u8]) {
    let fleet = crate::fuzz_fleet();
    let world = fleet
        .build_world(SimClock::start_now())
        .expect("the fuzz world builds");
    let host = world.host(0).expect("the fuzz fleet has hosts");
    let now = world.now();
    host.with_machine(now, |m| {
        let _ = m.power_on(now);
    });
    let mut agent = Agent::new(
        &host.name,
        host.profile.clone(),
        ChaCha8Rng::seed_from_u64(7),
    );
    for line in split(data, b"\n").into_iter().take(16) {
        let Ok(body) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let Ok(req) = Request::parse(&body) else {
            continue;
        };
        let executed = host.with_machine(now, |m| agent.execute(now, m, req));
        if let Ok((result, _fetch)) = executed {
            let _ = result.to_json();
        }
    }
}

/// The input up to a line `~~~` is `image_info` (JSON), the rest a checksum file's text, then
/// the image's bytes are the text itself: each step refuses with a typed error or gives a digest
/// that `verify` checks without a panic; the image's own digest verifies (unless the image is
/// empty or the digest is MD5 where MD5 is off, which are refused).
pub fn checksums(data: &[u8]) {
    let parts = split(data, b"\n~~~\n");
    let [info, text, ..] = parts.as_slice() else {
        return;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(info) else {
        return;
    };
    let text = String::from_utf8_lossy(text);
    for md5_allowed in [false, true] {
        let Ok(info) = ImageInfo::parse(&v, md5_allowed) else {
            continue;
        };
        let url = "http://127.0.0.1:1/image.sha256sum";
        let expected = match &info.expected {
            Expected::Digest { .. } => info.expected.clone(),
            _ => match info.digest_from_file(url, &text) {
                Ok(e) => e,
                Err(_) => continue,
            },
        };
        let _ = image::verify(&info, &expected, url, text.as_bytes(), md5_allowed);
        if let Expected::Digest { algo, .. } = &expected {
            let own = Expected::Digest {
                algo: *algo,
                value: algo.hex_digest(text.as_bytes()),
            };
            let verified = image::verify(&info, &own, url, text.as_bytes(), md5_allowed);
            let refusable = text.is_empty() || *algo == image::HashAlgo::Md5 && !md5_allowed;
            assert!(
                verified.is_ok() || refusable,
                "the image's own {algo:?} digest does not verify: {verified:?}"
            );
        }
    }
}
