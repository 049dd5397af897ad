//! A WAL segment file: an 8-byte header, then framed records.
//!
//! ```text
//! header:  "VWAL" | version u8 | 0u8 0u8 0u8
//! record:  payload_len u32 LE | crc32c(type ++ payload) u32 LE | type u8 | payload
//! ```

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

pub const MAGIC: &[u8; 4] = b"VWAL";
pub const VERSION: u8 = 1;
pub const HEADER_LEN: usize = 8;
pub const FRAME_LEN: usize = 9;
/// A record larger than this is taken for garbage: no batch we write is near it.
pub const MAX_RECORD_LEN: usize = 256 << 20;

pub fn header() -> [u8; HEADER_LEN] {
    [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION, 0, 0, 0]
}

/// Frames one record onto `out`.
pub fn frame(record_type: u8, payload: &[u8], out: &mut Vec<u8>) {
    let mut crc = crc32c::crc32c(&[record_type]);
    crc = crc32c::crc32c_append(crc, payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.push(record_type);
    out.extend_from_slice(payload);
}

/// Frames one record onto `out`, its payload written in place by `payload`
/// (no copy of a payload built elsewhere).
pub fn frame_with(record_type: u8, out: &mut Vec<u8>, payload: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_LEN]);
    payload(out);
    let len = (out.len() - start - FRAME_LEN) as u32;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&[record_type]), &out[start + FRAME_LEN..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    out[start + 8] = record_type;
}

/// What reading a segment found after its last good record.
#[derive(Debug, PartialEq, Eq)]
pub enum Tail {
    /// The file ended exactly after a record.
    Clean,
    /// Bytes from `valid_len` on could not be read as records.
    Corrupt {
        valid_len: u64,
        reason: &'static str,
    },
}

pub struct SegmentContents {
    /// `(type, payload)` of every record before the first bad one.
    pub records: Vec<(u8, Vec<u8>)>,
    pub file_len: u64,
    pub tail: Tail,
}

/// Reads every intact record of a segment. Never fails on bad content: a torn
/// write or garbage is reported as a corrupt tail at the last good offset.
pub fn read(path: &Path) -> io::Result<SegmentContents> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let file_len = data.len() as u64;
    let corrupt = |records, valid_len: usize, reason| SegmentContents {
        records,
        file_len,
        tail: Tail::Corrupt {
            valid_len: valid_len as u64,
            reason,
        },
    };
    if data.len() < HEADER_LEN || &data[..4] != MAGIC {
        return Ok(corrupt(Vec::new(), 0, "missing or damaged segment header"));
    }
    if data[4] != VERSION {
        return Ok(corrupt(Vec::new(), 0, "unknown segment version"));
    }
    let mut records = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < data.len() {
        if data.len() - pos < FRAME_LEN {
            return Ok(corrupt(records, pos, "torn record frame"));
        }
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap());
        let record_type = data[pos + 8];
        if len > MAX_RECORD_LEN {
            return Ok(corrupt(records, pos, "impossible record length"));
        }
        let start = pos + FRAME_LEN;
        let Some(payload) = data.get(start..start + len) else {
            return Ok(corrupt(records, pos, "torn record"));
        };
        let actual = crc32c::crc32c_append(crc32c::crc32c(&[record_type]), payload);
        if actual != crc {
            return Ok(corrupt(records, pos, "record checksum mismatch"));
        }
        records.push((record_type, payload.to_vec()));
        pos = start + len;
    }
    Ok(SegmentContents {
        records,
        file_len,
        tail: Tail::Clean,
    })
}
