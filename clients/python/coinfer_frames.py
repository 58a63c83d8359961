"""coinfer feature frames, built by hand from docs/protocol.md (no coinfer code).

A frame is little-endian:

    magic "CFRM" | version 1 | codec id | rank r | 0 | r x u32 dims | u32 p | p param bytes
    | u32 n | n payload bytes | u32 CRC-32 (IEEE) of everything before it

Codec ids: 0 raw float32, 1 raw float16, 2 uniform quantisation (bit-packed, LSB first),
3 uniform + ANS entropy coding, 4 uniform + an entropy model agreed out of band.
This module writes 0, 1 and 2, which any client can produce with numpy alone.
"""

import struct
import zlib

import numpy as np

MAGIC = b"CFRM"
VERSION = 1
RAW_F32, RAW_F16, UNIFORM = 0, 1, 2


def frame(codec_id: int, shape, params: bytes, payload: bytes) -> bytes:
    """Wraps a codec's parameters and payload in a frame."""
    if len(shape) > 8:
        raise ValueError("a frame's rank is at most 8")
    out = bytearray(MAGIC)
    out += bytes([VERSION, codec_id, len(shape), 0])
    for d in shape:
        out += struct.pack("<I", int(d))
    out += struct.pack("<I", len(params)) + params
    out += struct.pack("<I", len(payload)) + payload
    out += struct.pack("<I", zlib.crc32(bytes(out)) & 0xFFFFFFFF)
    return bytes(out)


def raw_f32(x: np.ndarray) -> bytes:
    """Codec 0: the values as little-endian float32, row-major."""
    return frame(RAW_F32, x.shape, b"", np.ascontiguousarray(x, dtype="<f4").tobytes())


def raw_f16(x: np.ndarray) -> bytes:
    """Codec 1: the values as little-endian IEEE half floats."""
    return frame(RAW_F16, x.shape, b"", np.ascontiguousarray(x, dtype="<f2").tobytes())


def uniform(x: np.ndarray, bits: int, per_channel: bool = False) -> bytes:
    """Codec 2: uniform quantisation to `bits` (1-16) bits over [lo, hi] per tensor or per
    channel (axis 1), symbols q = floor((clip(v, lo, hi) - lo) * (2^bits - 1) / (hi - lo) + 0.5),
    packed LSB first. Parameters: u8 bits, u8 per_channel, u32 ranges, then (f32 lo, f32 hi)
    per range."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    levels = (1 << bits) - 1
    if per_channel:
        chans = x.shape[1]
        lo = x.swapaxes(0, 1).reshape(chans, -1).min(axis=1)
        hi = x.swapaxes(0, 1).reshape(chans, -1).max(axis=1)
        shape = [1, chans] + [1] * (x.ndim - 2)
        lo_b, hi_b = lo.reshape(shape), hi.reshape(shape)
    else:
        lo, hi = np.array([x.min()]), np.array([x.max()])
        lo_b, hi_b = lo[0], hi[0]
    span = np.where(hi_b > lo_b, hi_b - lo_b, 1.0)
    q = np.floor((np.clip(x, lo_b, hi_b) - lo_b) * (levels / span) + 0.5).astype(np.uint64)
    q = np.where(hi_b > lo_b, q, 0).ravel()
    params = bytes([bits, int(per_channel)]) + struct.pack("<I", len(lo))
    for l, h in zip(lo, hi):
        params += struct.pack("<ff", float(l), float(h))
    # LSB-first packing: symbol i occupies bits [i*bits, (i+1)*bits) of the payload.
    bit_matrix = ((q[:, None] >> np.arange(bits, dtype=np.uint64)) & 1).astype(np.uint8)
    payload = np.packbits(bit_matrix.ravel(), bitorder="little").tobytes()
    return frame(UNIFORM, x.shape, params, payload)
