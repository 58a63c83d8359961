//! The frame format (version 1), little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 4 | magic `CFRM` |
//! | 1 | format version (1) |
//! | 1 | codec id (0 raw f32, 1 raw f16, 2 uniform) |
//! | 1 | rank `r` (≤ 8) |
//! | 1 | reserved (0) |
//! | 4·r | dimensions (u32) |
//! | 4 | parameter bytes `p` |
//! | p | codec parameters |
//! | 4 | payload bytes `n` |
//! | n | payload |
//! | 4 | CRC-32 (IEEE) of everything before it |
//!
//! A **session frame** serves a codec agreed out of band with its sample shape
//! ([`crate::Codec::UniformAnsStatic`] whose [`crate::EntropyModel::sample_shape`] is set):
//! shape, ranges and entropy model are known to both ends, so per frame only this travels:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | tag `0xC5` (a full frame starts with `C`, 0x43) |
//! | 1 | samples `n` (1–255; the shape is `[n, sample_shape…]`) |
//! | 2 | low 16 bits of the codec's fingerprint |
//! | k | ANS payload (to the end) |
//! | 2 | low 16 bits of the CRC-32 (IEEE) of everything before it |

use crate::codec::{Codec, Feature};

/// The 4-byte magic at the start of every frame.
pub const FRAME_MAGIC: [u8; 4] = *b"CFRM";
/// The frame format version this build writes and reads.
pub const FRAME_VERSION: u8 = 1;
/// Largest rank a frame may declare.
pub const MAX_RANK: usize = 8;

/// Bounds a decoder enforces before allocating anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DecodeLimits {
    /// Largest number of elements a frame may declare.
    pub max_elements: usize,
    /// Largest frame size in bytes.
    pub max_frame_bytes: usize,
}

impl Default for DecodeLimits {
    /// 16 M elements (64 MB of float32), 80 MB frames.
    fn default() -> Self {
        DecodeLimits { max_elements: 16 << 20, max_frame_bytes: 80 << 20 }
    }
}

/// Why a frame was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Fewer bytes than the header or a declared length needs.
    #[error("truncated frame: needs at least {expected_bytes} bytes, got {got_bytes}")]
    Truncated {
        /// Bytes needed.
        expected_bytes: usize,
        /// Bytes present.
        got_bytes: usize,
    },
    /// More bytes than the declared lengths account for.
    #[error("frame has {extra} trailing bytes after its checksum")]
    TrailingBytes {
        /// Extra bytes.
        extra: usize,
    },
    /// Not a coinfer frame.
    #[error("not a coinfer feature frame (bad magic)")]
    BadMagic,
    /// A format version this build does not know.
    #[error("unsupported frame version {0} (this build reads version {FRAME_VERSION})")]
    UnsupportedVersion(u8),
    /// An unknown codec id.
    #[error("unknown codec id {0}")]
    UnknownCodec(u8),
    /// The checksum does not match the content.
    #[error("checksum mismatch: frame says {expected:#010x}, content gives {actual:#010x}")]
    Checksum {
        /// Stored CRC.
        expected: u32,
        /// Computed CRC.
        actual: u32,
    },
    /// The frame declares more than the limits allow.
    #[error("frame declares {what} = {value}, above the limit {limit}")]
    TooLarge {
        /// Which quantity.
        what: &'static str,
        /// Declared value.
        value: usize,
        /// The limit.
        limit: usize,
    },
    /// The frame was coded with an entropy model agreed out of band that the decoder lacks
    /// (or has another version of).
    #[error("frame needs the codec's own entropy model (fingerprint {fingerprint:#010x}); decode it with that codec")]
    NeedsCodec {
        /// Fingerprint of the model the frame was coded with.
        fingerprint: u32,
    },
    /// Header fields are inconsistent (payload size vs shape, bad parameters...).
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Writes a frame around a codec's parameters and payload.
pub(crate) fn write_frame(codec_id: u8, shape: &[usize], params: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20 + 4 * shape.len() + params.len() + payload.len());
    out.extend_from_slice(&FRAME_MAGIC);
    out.extend_from_slice(&[FRAME_VERSION, codec_id, shape.len() as u8, 0]);
    for &d in shape {
        out.extend_from_slice(&(d as u32).to_le_bytes());
    }
    out.extend_from_slice(&(params.len() as u32).to_le_bytes());
    out.extend_from_slice(params);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// First byte of a session frame.
pub const SESSION_FRAME_TAG: u8 = 0xC5;
/// Bytes a session frame adds to its payload.
pub const SESSION_FRAME_OVERHEAD: usize = 6;

/// Writes a session frame.
pub(crate) fn write_session_frame(samples: u8, fingerprint: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SESSION_FRAME_OVERHEAD + payload.len());
    out.extend_from_slice(&[SESSION_FRAME_TAG, samples]);
    out.extend_from_slice(&(fingerprint as u16).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out) as u16;
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// A session frame whose tag, size limit and checksum have been checked.
pub(crate) struct SessionFrame<'a> {
    pub(crate) samples: usize,
    pub(crate) fingerprint: u16,
    pub(crate) payload: &'a [u8],
}

/// `Some` if `bytes` starts like a session frame: its checked parts.
pub(crate) fn parse_session_frame<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Option<Result<SessionFrame<'a>, FrameError>> {
    if bytes.first() != Some(&SESSION_FRAME_TAG) {
        return None;
    }
    Some((|| {
        check_frame_size(bytes, limits)?;
        if bytes.len() < SESSION_FRAME_OVERHEAD {
            return Err(FrameError::Truncated {
                expected_bytes: SESSION_FRAME_OVERHEAD,
                got_bytes: bytes.len(),
            });
        }
        let (body, crc) = bytes.split_at(bytes.len() - 2);
        let expected = u16::from_le_bytes([crc[0], crc[1]]);
        let actual = crc32fast::hash(body) as u16;
        if expected != actual {
            return Err(FrameError::Checksum { expected: expected.into(), actual: actual.into() });
        }
        let samples = body[1] as usize;
        if samples == 0 {
            return Err(FrameError::Malformed("session frame with 0 samples".into()));
        }
        Ok(SessionFrame {
            samples,
            fingerprint: u16::from_le_bytes([body[2], body[3]]),
            payload: &body[4..],
        })
    })())
}

/// Refuses a frame (of either kind) larger than the limits allow.
fn check_frame_size(bytes: &[u8], limits: &DecodeLimits) -> Result<(), FrameError> {
    if bytes.len() > limits.max_frame_bytes {
        return Err(FrameError::TooLarge {
            what: "frame bytes",
            value: bytes.len(),
            limit: limits.max_frame_bytes,
        });
    }
    Ok(())
}

/// A bounds-checked little-endian reader.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(
            FrameError::Truncated {
                expected_bytes: self.pos.saturating_add(n),
                got_bytes: self.bytes.len(),
            },
        )?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, FrameError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn f32(&mut self) -> Result<f32, FrameError> {
        Ok(f32::from_bits(self.u32()?))
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

/// A frame whose header, lengths, limits and checksum have been checked.
pub(crate) struct ParsedFrame<'a> {
    pub(crate) codec_id: u8,
    pub(crate) shape: Vec<usize>,
    pub(crate) elements: usize,
    pub(crate) params: &'a [u8],
    pub(crate) payload: &'a [u8],
}

/// Checks magic, version, checksum, lengths and limits before anything is allocated.
pub(crate) fn parse_frame<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<ParsedFrame<'a>, FrameError> {
    check_frame_size(bytes, limits)?;
    let mut r = Reader::new(bytes);
    if r.take(4)? != FRAME_MAGIC {
        return Err(FrameError::BadMagic);
    }
    let version = r.u8()?;
    if version != FRAME_VERSION {
        return Err(FrameError::UnsupportedVersion(version));
    }
    let codec_id = r.u8()?;
    let rank = r.u8()? as usize;
    let _reserved = r.u8()?;
    if rank > MAX_RANK {
        return Err(FrameError::TooLarge { what: "rank", value: rank, limit: MAX_RANK });
    }
    let mut shape = Vec::with_capacity(rank);
    for _ in 0..rank {
        shape.push(r.u32()? as usize);
    }
    let elements = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX);
    if elements > limits.max_elements {
        return Err(FrameError::TooLarge {
            what: "elements",
            value: elements,
            limit: limits.max_elements,
        });
    }
    let params_len = r.u32()? as usize;
    let params = r.take(params_len)?;
    let payload_len = r.u32()? as usize;
    let payload = r.take(payload_len)?;
    let body_end = bytes.len() - r.remaining();
    let expected = r.u32()?;
    if r.remaining() > 0 {
        return Err(FrameError::TrailingBytes { extra: r.remaining() });
    }
    let actual = crc32fast::hash(&bytes[..body_end]);
    if expected != actual {
        return Err(FrameError::Checksum { expected, actual });
    }
    Ok(ParsedFrame { codec_id, shape, elements, params, payload })
}

/// Decodes any self-describing frame (every codec but [`Codec::UniformAnsStatic`], whose
/// entropy model is agreed out of band: decode those, and session frames, with
/// [`Codec::decode`]).
pub fn decode_frame(bytes: &[u8], limits: &DecodeLimits) -> Result<Feature, FrameError> {
    if let Some(session) = parse_session_frame(bytes, limits) {
        return Err(FrameError::NeedsCodec { fingerprint: session?.fingerprint.into() });
    }
    let f = parse_frame(bytes, limits)?;
    let values = Codec::decode_payload(f.codec_id, &f.shape, f.elements, f.params, f.payload)?;
    Ok(Feature { shape: f.shape, values })
}
