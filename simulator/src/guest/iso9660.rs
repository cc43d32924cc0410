//! Just enough ISO 9660 to read an OpenStack config drive as real Ironic hands it to the agent:
//! base64 text of a gzipped ISO image whose `openstack/latest/` holds `meta_data.json`, `user_data`
//! and `network_data.json`. Names are read from the Joliet directory tree when there is one (Ironic
//! builds with `genisoimage -J -r`), else from Rock Ridge `NM` entries, else from the plain ISO
//! names (upper case, `;1` version dropped). Every offset is checked; the image, the tree's depth
//! and the number of records read are bounded, so a hostile or truncated image is an error, never a
//! panic or a hang.

use std::io::Read as _;

use base64::Engine as _;

const SECTOR: usize = 2048;
/// Largest decompressed image read (a config drive is kilobytes; Ironic's limit is 64 MiB).
const MAX_IMAGE: u64 = 64 << 20;
const MAX_RECORDS: usize = 10_000;

/// The three documents of `openstack/latest/`, as bytes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DriveFiles {
    /// `meta_data.json`.
    pub meta_data: Option<Vec<u8>>,
    /// `user_data`.
    pub user_data: Option<Vec<u8>>,
    /// `network_data.json`.
    pub network_data: Option<Vec<u8>>,
}

/// Decodes base64 → gzip → ISO and reads `openstack/latest/`.
pub fn config_drive_files(text: &str) -> Result<DriveFiles, String> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let gz = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| format!("configdrive is not base64: {e}"))?;
    let mut image = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .take(MAX_IMAGE + 1)
        .read_to_end(&mut image)
        .map_err(|e| format!("configdrive is not gzip data: {e}"))?;
    if image.len() as u64 > MAX_IMAGE {
        return Err(format!(
            "configdrive image is larger than {MAX_IMAGE} bytes"
        ));
    }
    read_drive(&image)
}

/// Reads `openstack/latest/` from an ISO 9660 image.
pub fn read_drive(image: &[u8]) -> Result<DriveFiles, String> {
    let iso = Iso { image };
    let (root, joliet) = iso.root()?;
    let mut budget = MAX_RECORDS;
    let openstack = iso
        .find(&root, joliet, "openstack", &mut budget)?
        .ok_or("the ISO has no openstack/ directory: not an OpenStack config drive")?;
    let latest = iso
        .find(&openstack, joliet, "latest", &mut budget)?
        .ok_or("the ISO has no openstack/latest/ directory")?;
    let mut files = DriveFiles::default();
    for entry in iso.list(&latest, joliet, &mut budget)? {
        let slot = match entry.name.as_str() {
            "meta_data.json" => &mut files.meta_data,
            "user_data" => &mut files.user_data,
            "network_data.json" => &mut files.network_data,
            _ => continue,
        };
        if !entry.directory {
            *slot = Some(iso.bytes(entry.extent, entry.size)?.to_vec());
        }
    }
    Ok(files)
}

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    extent: usize,
    size: usize,
    directory: bool,
}

struct Iso<'a> {
    image: &'a [u8],
}

fn le32(b: &[u8], at: usize) -> Result<usize, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
        .ok_or_else(|| "ISO record truncated".to_string())
}

impl<'a> Iso<'a> {
    fn bytes(&self, extent: usize, size: usize) -> Result<&'a [u8], String> {
        let start = extent
            .checked_mul(SECTOR)
            .ok_or("ISO extent out of range")?;
        let end = start.checked_add(size).ok_or("ISO extent out of range")?;
        self.image
            .get(start..end)
            .ok_or_else(|| format!("ISO extent {extent} (+{size} bytes) is past the image's end"))
    }

    /// The root directory: Joliet's when a Joliet descriptor exists, else the primary one.
    fn root(&self) -> Result<(Entry, bool), String> {
        let mut primary = None;
        for sector in 16..16 + 64 {
            let d = self
                .bytes(sector, SECTOR)
                .map_err(|_| "not an ISO 9660 image: no volume descriptor set".to_string())?;
            if &d[1..6] != b"CD001" {
                return Err("not an ISO 9660 image: no CD001 volume descriptor".into());
            }
            match d[0] {
                1 => primary = Some(record(&d[156..190], false)?),
                2 if matches!(&d[88..91], b"%/@" | b"%/C" | b"%/E") => {
                    return Ok((record(&d[156..190], true)?, true));
                }
                255 => break,
                _ => {}
            }
        }
        primary
            .map(|p| (p, false))
            .ok_or_else(|| "ISO 9660 image without a primary volume descriptor".into())
    }

    fn list(&self, dir: &Entry, joliet: bool, budget: &mut usize) -> Result<Vec<Entry>, String> {
        let data = self.bytes(dir.extent, dir.size)?;
        let mut out = Vec::new();
        let mut at = 0;
        while at < data.len() {
            let len = data[at] as usize;
            if len == 0 {
                // Records do not cross sectors: the rest of this one is padding.
                at = (at / SECTOR + 1) * SECTOR;
                continue;
            }
            *budget = budget
                .checked_sub(1)
                .ok_or("ISO has too many directory records")?;
            let rec = data
                .get(at..at + len)
                .ok_or("ISO directory record runs past its directory")?;
            let entry = record(rec, joliet)?;
            if entry.name != "." && entry.name != ".." {
                out.push(entry);
            }
            at += len;
        }
        Ok(out)
    }

    fn find(
        &self,
        dir: &Entry,
        joliet: bool,
        name: &str,
        budget: &mut usize,
    ) -> Result<Option<Entry>, String> {
        Ok(self
            .list(dir, joliet, budget)?
            .into_iter()
            .find(|e| e.directory && e.name == name))
    }
}

/// One directory record (at least 34 bytes).
fn record(rec: &[u8], joliet: bool) -> Result<Entry, String> {
    if rec.len() < 34 {
        return Err("ISO directory record shorter than 34 bytes".into());
    }
    let extent = le32(rec, 2)?;
    let size = le32(rec, 10)?;
    let directory = rec[25] & 0x02 != 0;
    let name_len = rec[32] as usize;
    let raw = rec
        .get(33..33 + name_len)
        .ok_or("ISO file name runs past its record")?;
    let name = match raw {
        [0] => ".".to_string(),
        [1] => "..".to_string(),
        _ if joliet => {
            let units: Vec<u16> = raw
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            strip_version(&String::from_utf16_lossy(&units))
        }
        _ => {
            let system_use = rec.get(33 + name_len + (1 - name_len % 2)..).unwrap_or(&[]);
            match rock_ridge_name(system_use) {
                Some(n) => n,
                None => strip_version(&String::from_utf8_lossy(raw)).to_ascii_lowercase(),
            }
        }
    };
    Ok(Entry {
        name,
        extent,
        size,
        directory,
    })
}

fn strip_version(name: &str) -> String {
    let base = name.split(';').next().unwrap_or(name);
    base.strip_suffix('.').unwrap_or(base).to_string()
}

/// The Rock Ridge alternate name (`NM` entries) in a record's system use area.
fn rock_ridge_name(mut area: &[u8]) -> Option<String> {
    let mut name = Vec::new();
    while area.len() >= 4 {
        let len = area[2] as usize;
        if len < 4 || len > area.len() {
            break;
        }
        if &area[..2] == b"NM" && len >= 5 {
            name.extend_from_slice(&area[5..len]);
        }
        area = &area[len..];
    }
    (!name.is_empty()).then(|| String::from_utf8_lossy(&name).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_foreign_images_are_errors() {
        assert!(
            read_drive(&[])
                .unwrap_err()
                .contains("not an ISO 9660 image")
        );
        let mut image = vec![0u8; SECTOR * 17];
        image[16 * SECTOR + 1..16 * SECTOR + 6].copy_from_slice(b"NOPE!");
        assert!(read_drive(&image).unwrap_err().contains("CD001"));
        assert!(config_drive_files("!!").unwrap_err().contains("base64"));
    }

    #[test]
    fn names_lose_their_version_and_rock_ridge_names_win() {
        assert_eq!(strip_version("META_DAT.JSO;1"), "META_DAT.JSO");
        assert_eq!(strip_version("USER_DATA.;1"), "USER_DATA");
        let nm = [
            b'N', b'M', 13, 1, 0, b'u', b's', b'e', b'r', b'_', b'd', b'a', b't',
        ];
        let mut area = nm.to_vec();
        area.extend_from_slice(&[b'N', b'M', 6, 1, 0, b'a']);
        assert_eq!(rock_ridge_name(&area).as_deref(), Some("user_data"));
        assert_eq!(rock_ridge_name(&[b'N', b'M', 2]), None);
    }
}
