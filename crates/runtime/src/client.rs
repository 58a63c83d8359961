//! A thin client of the `coinfer.v1.Edge` service: connection settings and the bearer token.

use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::error::{Result, RuntimeError};
use crate::proto::edge_client::EdgeClient as Stub;
use crate::proto::{
    FetchRequest, HealthRequest, HealthResponse, InferRequest, InferResponse, ModelChunk, Share,
    SharesRequest, VersionsRequest, VersionsResponse,
};
use crate::tls::ClientTls;

/// A connection to an edge server. Cloning is cheap and shares the connection.
#[derive(Clone)]
pub struct EdgeClient {
    stub: Stub<Channel>,
    token: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl EdgeClient {
    /// A plaintext client for `url` (e.g. `http://127.0.0.1:50051`). Connects on first use,
    /// so an unreachable edge shows up as an `UNAVAILABLE` error per request, never at start.
    pub fn new(url: &str, token: Option<&str>) -> Result<EdgeClient> {
        Self::connect(url, token, None)
    }

    /// A client for `url` with TLS settings (`https://` URLs; with no settings given there,
    /// the system's roots verify the edge).
    pub fn connect(url: &str, token: Option<&str>, tls: Option<&ClientTls>) -> Result<EdgeClient> {
        let https = url.starts_with("https://");
        if !https && !url.starts_with("http://") {
            return Err(RuntimeError::Invalid(format!(
                "edge URL `{url}`: start it with http:// (plaintext) or https:// (TLS)"
            )));
        }
        if tls.is_some() && !https {
            return Err(RuntimeError::Invalid(format!(
                "edge URL `{url}`: TLS settings were given, so use https://"
            )));
        }
        let mut endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| RuntimeError::Invalid(format!("edge URL `{url}`: {e}")))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .initial_connection_window_size(4 << 20)
            .initial_stream_window_size(2 << 20)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true);
        if https {
            let config = tls.cloned().unwrap_or_default().grpc()?;
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| RuntimeError::Invalid(format!("TLS for `{url}`: {e}")))?;
        }
        let token = token
            .map(|t| {
                MetadataValue::try_from(format!("Bearer {t}"))
                    .map_err(|_| RuntimeError::Invalid("token must be printable ASCII".into()))
            })
            .transpose()?;
        let stub = Stub::new(endpoint.connect_lazy())
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        Ok(EdgeClient { stub, token })
    }

    fn request<T>(&self, msg: T, timeout: Option<Duration>) -> Request<T> {
        let mut r = Request::new(msg);
        if let Some(t) = &self.token {
            r.metadata_mut().insert("authorization", t.clone());
        }
        if let Some(t) = timeout {
            r.set_timeout(t);
        }
        r
    }

    /// Runs a tail on the edge; gives up after `timeout`.
    pub async fn infer(
        &mut self,
        req: InferRequest,
        timeout: Option<Duration>,
    ) -> Result<InferResponse, Status> {
        let r = self.request(req, timeout);
        Ok(self.stub.infer(r).await?.into_inner())
    }

    /// The edge's health.
    pub async fn health(&mut self) -> Result<HealthResponse, Status> {
        let r = self.request(HealthRequest {}, Some(Duration::from_secs(5)));
        Ok(self.stub.health(r).await?.into_inner())
    }

    /// Sets devices' compute and bandwidth shares; returns how many were applied.
    pub async fn set_shares(&mut self, shares: Vec<Share>) -> Result<u32, Status> {
        let r = self.request(SharesRequest { shares }, Some(Duration::from_secs(5)));
        Ok(self.stub.set_shares(r).await?.into_inner().applied)
    }

    /// The versions of `model` the edge publishes, with their heads.
    pub async fn versions(&mut self, model: &str) -> Result<VersionsResponse, Status> {
        // Describing a version builds every head once on the edge: allow for large models.
        let r =
            self.request(VersionsRequest { model: model.into() }, Some(Duration::from_secs(60)));
        Ok(self.stub.versions(r).await?.into_inner())
    }

    /// Starts streaming a head file (see [`crate::fetch`] for the resuming download).
    pub async fn fetch_model(
        &mut self,
        req: FetchRequest,
    ) -> Result<tonic::Streaming<ModelChunk>, Status> {
        let r = self.request(req, None);
        Ok(self.stub.fetch_model(r).await?.into_inner())
    }
}
