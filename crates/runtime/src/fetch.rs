//! Model distribution, device side: downloads the head of `K` layers of a version in chunks,
//! resumes from the last byte received when the connection breaks, verifies it
//! ([`crate::distribution::verify_head`]) and only then moves it where the device runs it
//! from. A failed download leaves nothing behind: the device keeps the model it has.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::client::EdgeClient;
use crate::distribution::{placed_version, verify_head};
use crate::error::{Result, RuntimeError};
use crate::models::ModelId;
use crate::proto::{FetchRequest, VersionInfo};

/// How a download runs.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchOptions {
    /// Chunk size asked for, bytes (0 = the edge's default, 64 KiB).
    pub chunk_bytes: u32,
    /// Reconnections allowed after a broken or short stream before giving up.
    pub max_resumes: usize,
    /// Give up on a stream that delivers nothing for this long (then resume).
    pub stall_timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions { chunk_bytes: 0, max_resumes: 5, stall_timeout: Duration::from_secs(10) }
    }
}

/// A verified download.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Fetched {
    /// Where the device runs it from: `model`, version `<version>.k<K>`.
    pub local: ModelId,
    /// Its file.
    pub path: PathBuf,
    /// Layers placed `K`.
    pub layers: usize,
    /// File size, bytes.
    pub bytes: u64,
    /// From the first request to the last byte, s (verification not included).
    pub seconds: f64,
    /// Verification and writing the file, s.
    pub verify_seconds: f64,
    /// Reconnections it took.
    pub resumes: usize,
    /// Chunks received.
    pub chunks: usize,
}

/// Downloads, verifies and stores the head of `layers` layers of `version` of `model` in
/// `dir/<model>/<version>.k<layers>.onnx`. Errors name what went wrong; on error nothing
/// is written.
pub async fn fetch_head(
    client: &mut EdgeClient,
    model: &str,
    version: &VersionInfo,
    layers: usize,
    dir: &Path,
    options: &FetchOptions,
) -> Result<Fetched> {
    let info = version
        .heads
        .get(layers.wrapping_sub(1))
        .filter(|h| h.layers as usize == layers)
        .ok_or_else(|| {
            RuntimeError::NotFound(format!(
                "version `{}` of `{model}` advertises no head of {layers} layers (1..={})",
                version.version,
                version.heads.len()
            ))
        })?;
    if info.bytes > coinfer_graph::MAX_MODEL_BYTES {
        return Err(RuntimeError::Invalid(format!(
            "the head of {layers} layers is advertised at {} bytes, above the 2 GiB limit",
            info.bytes
        )));
    }
    let total = info.bytes as usize;
    let mut buf: Vec<u8> = Vec::with_capacity(total);
    let (mut resumes, mut chunks) = (0usize, 0usize);
    let t0 = Instant::now();
    while buf.len() < total || chunks == 0 {
        let req = FetchRequest {
            model: model.into(),
            version: version.version.clone(),
            layers: layers as u32,
            offset: buf.len() as u64,
            chunk_bytes: options.chunk_bytes,
        };
        let broke = match stream_into(client, req, total, &mut buf, &mut chunks, options).await {
            Ok(()) if buf.len() >= total => break,
            Ok(()) => format!("the stream ended at byte {} of {total}", buf.len()),
            Err(Broken::Fatal(e)) => return Err(e),
            Err(Broken::Retry(why)) => why,
        };
        resumes += 1;
        if resumes > options.max_resumes {
            return Err(RuntimeError::Edge(format!(
                "downloading the head of {layers} layers of `{model}/{}`: {broke}; gave up \
                 after {} resumes at byte {} of {total}",
                version.version,
                options.max_resumes,
                buf.len()
            )));
        }
        tracing::warn!(model, version = %version.version, at = buf.len(), "{broke}; resuming");
        tokio::time::sleep(Duration::from_millis(20 * resumes as u64)).await;
    }
    let seconds = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let local = ModelId { model: model.into(), version: placed_version(&version.version, layers) };
    let folder = dir.join(model);
    let path = folder.join(format!("{}.onnx", local.version));
    let (info, version) = (info.clone(), version.clone());
    let dest = path.clone();
    tokio::task::spawn_blocking(move || -> Result<()> {
        verify_head(&buf, &info, &version)?;
        std::fs::create_dir_all(&folder)
            .map_err(|e| RuntimeError::io(format!("creating {}", folder.display()), e))?;
        let part = dest.with_extension("onnx.part");
        std::fs::write(&part, &buf)
            .map_err(|e| RuntimeError::io(format!("writing {}", part.display()), e))?;
        std::fs::rename(&part, &dest)
            .map_err(|e| RuntimeError::io(format!("moving {} into place", part.display()), e))
    })
    .await
    .map_err(|e| RuntimeError::Invalid(format!("verifying a download: {e}")))??;
    Ok(Fetched {
        local,
        path,
        layers,
        bytes: total as u64,
        seconds,
        verify_seconds: t1.elapsed().as_secs_f64(),
        resumes,
        chunks,
    })
}

/// Why a stream stopped early.
enum Broken {
    /// Worth resuming (connection lost, stalled).
    Retry(String),
    /// Not (the edge refused, or sent something inconsistent).
    Fatal(RuntimeError),
}

/// Appends one stream's chunks to `buf`, checking each lines up with what came before.
async fn stream_into(
    client: &mut EdgeClient,
    req: FetchRequest,
    total: usize,
    buf: &mut Vec<u8>,
    chunks: &mut usize,
    options: &FetchOptions,
) -> std::result::Result<(), Broken> {
    let retry_codes = [tonic::Code::Unavailable, tonic::Code::Unknown, tonic::Code::Internal];
    let status = |s: tonic::Status| {
        let why = format!("{:?}: {}", s.code(), s.message());
        if retry_codes.contains(&s.code()) || s.code() == tonic::Code::Cancelled {
            Broken::Retry(why)
        } else {
            Broken::Fatal(RuntimeError::Edge(format!("the edge refused the download: {why}")))
        }
    };
    let mut stream = client.fetch_model(req).await.map_err(status)?;
    loop {
        let next = tokio::time::timeout(options.stall_timeout, stream.message()).await;
        let chunk = match next {
            Err(_) => {
                return Err(Broken::Retry(format!(
                    "nothing received for {:.1} s",
                    options.stall_timeout.as_secs_f64()
                )))
            }
            Ok(Err(s)) => return Err(status(s)),
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(c))) => c,
        };
        let fatal = |why: String| Broken::Fatal(RuntimeError::Invalid(format!("download: {why}")));
        if chunk.total_bytes as usize != total {
            return Err(fatal(format!(
                "the edge now serves {} bytes, {total} were advertised (the version changed?)",
                chunk.total_bytes
            )));
        }
        if chunk.offset as usize != buf.len() {
            return Err(fatal(format!(
                "chunk at byte {} while {} bytes are in hand",
                chunk.offset,
                buf.len()
            )));
        }
        if buf.len() + chunk.data.len() > total {
            return Err(fatal(format!("chunks run past the advertised {total} bytes")));
        }
        buf.extend_from_slice(&chunk.data);
        *chunks += 1;
    }
}
