//! A small seeded mutator for the smoke test: the kinds of edits libFuzzer makes (flip, insert,
//! delete, duplicate, splice, interesting bytes), drawn from a ChaCha RNG so a failure names
//! the seed and index that reproduce it.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const INTERESTING: &[&[u8]] = &[
    b"\0",
    b"\xff",
    b"-1",
    b"0",
    b"4294967296",
    b"18446744073709551616",
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b"%",
    b"%00",
    b"%2F",
    b"..",
    b"/",
    b"\n",
    b"~~~",
    b"null",
    b"true",
    b"1e999",
    b"\xc3\x28",
    b"*",
    b"&",
    b"=",
    b"!",
    b",",
    b":",
    b"@",
    b"?",
    b"#",
    b"\\u0000",
];

/// A mutator seeded with `seed`.
#[derive(Debug)]
pub struct Mutator {
    rng: ChaCha8Rng,
}

impl Mutator {
    /// A mutator whose edits follow from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// `base` with one to four edits, `other` giving material to splice in.
    pub fn mutate(&mut self, base: &[u8], other: &[u8]) -> Vec<u8> {
        let mut out = base.to_vec();
        let edits = self.rng.random_range(1..=4);
        for _ in 0..edits {
            let at = if out.is_empty() {
                0
            } else {
                self.rng.random_range(0..=out.len())
            };
            match self.rng.random_range(0..7) {
                0 if at < out.len() => out[at] ^= 1 << self.rng.random_range(0..8),
                1 => {
                    let b = self.rng.random::<u8>();
                    out.insert(at, b);
                }
                2 if at < out.len() => {
                    let end = (at + self.rng.random_range(1..=8)).min(out.len());
                    out.drain(at..end);
                }
                3 if at < out.len() => {
                    let end = (at + self.rng.random_range(1..=16)).min(out.len());
                    let copy = out[at..end].to_vec();
                    out.splice(at..at, copy);
                }
                4 if !other.is_empty() => {
                    let from = self.rng.random_range(0..other.len());
                    let end = (from + self.rng.random_range(1..=32)).min(other.len());
                    out.splice(at..at, other[from..end].iter().copied());
                }
                5 => {
                    let pick = INTERESTING[self.rng.random_range(0..INTERESTING.len())];
                    out.splice(at..at, pick.iter().copied());
                }
                6 if at < out.len() => {
                    let b = self.rng.random::<u8>();
                    out[at] = b;
                }
                _ => {}
            }
        }
        out.truncate(4096);
        out
    }
}
