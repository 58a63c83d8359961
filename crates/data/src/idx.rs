//! The IDX format of (Fashion-)MNIST, gzip-compressed.
//!
//! Hand-written: the format is a 4-byte magic, big-endian dimension sizes and raw `u8` data,
//! simpler than adding a crate for it.

use std::io::Read;
use std::path::Path;

use crate::error::{DataError, Result};

/// Reads a gzipped IDX file of unsigned bytes: returns (dims, data).
pub fn read_idx_gz(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let io = |source| DataError::Io { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(file).read_to_end(&mut bytes).map_err(io)?;
    parse_idx(&bytes).map_err(|reason| DataError::Format { path: path.to_path_buf(), reason })
}

/// Parses an uncompressed IDX buffer of unsigned bytes.
pub fn parse_idx(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<u8>), String> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err("not an IDX file (bad magic)".into());
    }
    if bytes[2] != 0x08 {
        return Err(format!("element type 0x{:02x} is not unsigned byte", bytes[2]));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err("truncated header".into());
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| {
            let b = &bytes[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("dimensions overflow")?;
    if bytes.len() - header != n {
        return Err(format!(
            "expected {n} data bytes for dims {dims:?}, found {}",
            bytes.len() - header
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::parse_idx;

    #[test]
    fn parses_and_rejects() {
        let ok = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 1, 7, 9];
        assert_eq!(parse_idx(&ok), Ok((vec![2, 1], vec![7, 9])));
        assert!(parse_idx(&ok[..13]).unwrap_err().contains("expected 2 data bytes"));
        assert!(parse_idx(&[1, 2, 3]).unwrap_err().contains("bad magic"));
        assert!(parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0]).unwrap_err().contains("unsigned"));
    }
}
