//! Secrets written once for every crate: randomness from the operating system (never a seeded
//! generator: a token, session id or nonce must not follow from a fleet's seed), comparison in
//! time independent of where two secrets differ, and files that hold secrets created private
//! (mode 0600 from the moment they exist) and replaced atomically and durably.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use subtle::ConstantTimeEq as _;

/// The operating system's random generator as a [`rand::Rng`] (it panics only if the OS cannot
/// supply entropy at all).
pub type OsRng = UnwrapErr<SysRng>;

/// A handle on the operating system's random generator.
pub fn os_rng() -> OsRng {
    UnwrapErr(SysRng)
}

/// `N` bytes from the operating system's random generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::Rng::fill_bytes(&mut os_rng(), &mut bytes);
    bytes
}

/// `bytes` random bytes from the operating system, as lowercase hex (twice as many characters).
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::Rng::fill_bytes(&mut os_rng(), &mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two secrets (passwords, tokens, authentication codes) are equal, in time that depends
/// only on their lengths, never on where they differ. Unequal lengths are unequal.
pub fn eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Creates `path` new (it must not exist) for writing, with mode 0600 on Unix from creation on:
/// no moment exists at which another user may open it.
pub fn create_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes `contents` to `path` privately and atomically: into a new mode-0600 file beside it
/// (same directory, so the rename cannot cross file systems), flushed to disk, renamed over
/// `path`, and the directory flushed so the rename itself survives a crash. A reader sees the old
/// file or the new one, never half of one; the file is never readable by another user.
pub fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let mut temporary = std::ffi::OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{}.tmp", random_hex(6)));
    let temporary = dir.join(temporary);
    let written = (|| {
        let mut file = create_private(&temporary)?;
        file.write_all(contents)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    sync_dir(&dir)
}

/// Flushes a directory's entries (a rename into it) to disk; nothing to do off Unix.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_secrets_compare_equal_and_any_difference_is_unequal() {
        assert!(eq(b"secret", b"secret"));
        assert!(eq(b"", b""));
        assert!(!eq(b"secret", b"secreT"), "differs in the last byte");
        assert!(!eq(b"secret", b"Secret"), "differs in the first byte");
        assert!(!eq(b"secret", b"secret!"), "a longer one");
        assert!(!eq(b"secret", b"secre"), "a prefix");
        assert!(!eq(b"", b"x"));
    }

    #[test]
    fn random_values_differ_between_draws_and_have_their_length() {
        let a = random_hex(16);
        let b = random_hex(16);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_is_0600_the_moment_it_exists() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let file = create_private(&path).unwrap();
        // Before anything is written or any permission changed: the mode it was created with.
        assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
        assert!(
            create_private(&path).is_err(),
            "an existing file is not reused"
        );
    }

    #[cfg(unix)]
    #[test]
    fn write_private_replaces_the_file_whole_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("endpoints.json");
        write_private(&path, b"first").unwrap();
        assert_eq!(mode(&path), 0o600);
        // A wider file already there is replaced by a private one, not written through.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        write_private(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(mode(&path), 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("endpoints.json")]);
    }

    #[test]
    fn write_private_into_a_missing_directory_fails_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("file");
        assert!(write_private(&path, b"x").is_err());
        assert!(!dir.path().join("missing").exists());
    }
}
