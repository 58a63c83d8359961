//! Every inference request counted by its outcome, at the gRPC transport rather than in the
//! handler: requests the transport refuses before the handler runs (a message over the size
//! limit: `OUT_OF_RANGE`) and requests abandoned before their answer (the client's deadline
//! or a reset: `CANCELLED`) are counted too.
//!
//! Hand-written (a small `tower` service wrapper): tonic's interceptors run before decoding and
//! never see the response, and no crate counts gRPC outcomes into a prometheus-client family.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::codegen::{http, Service};
use tonic::server::NamedService;

use crate::metrics::EdgeMetrics;

/// Path of the counted method.
const INFER_PATH: &str = "/coinfer.v1.Edge/Infer";

/// The `coinfer_edge_requests_total` label of a gRPC status code.
pub fn outcome(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "ok",
        tonic::Code::InvalidArgument => "invalid",
        tonic::Code::NotFound => "not_found",
        tonic::Code::Unauthenticated => "unauthenticated",
        tonic::Code::PermissionDenied => "forbidden",
        tonic::Code::ResourceExhausted => "overloaded",
        tonic::Code::DeadlineExceeded => "deadline",
        tonic::Code::OutOfRange => "too_large",
        tonic::Code::Cancelled => "cancelled",
        tonic::Code::Internal => "internal",
        _ => "error",
    }
}

/// Wraps the gRPC service `S`, counting each `Infer` by the status of its response.
#[derive(Clone)]
pub struct CountOutcomes<S> {
    inner: S,
    metrics: Arc<EdgeMetrics>,
}

impl<S> CountOutcomes<S> {
    /// Counts `inner`'s `Infer` outcomes into `metrics`.
    pub fn new(inner: S, metrics: Arc<EdgeMetrics>) -> CountOutcomes<S> {
        CountOutcomes { inner, metrics }
    }
}

impl<S: NamedService> NamedService for CountOutcomes<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B, R> Service<http::Request<B>> for CountOutcomes<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Counted<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let tally = (req.uri().path() == INFER_PATH)
            .then(|| Tally { metrics: self.metrics.clone(), counted: false });
        Counted { inner: Box::pin(self.inner.call(req)), tally }
    }
}

/// The response future, counting when it resolves — or, dropped unresolved, as cancelled.
pub struct Counted<F> {
    inner: Pin<Box<F>>,
    tally: Option<Tally>,
}

struct Tally {
    metrics: Arc<EdgeMetrics>,
    counted: bool,
}

impl Drop for Tally {
    fn drop(&mut self) {
        if !self.counted {
            self.metrics.count("cancelled");
        }
    }
}

/// The status of a response: `grpc-status` in its headers (an error answered at once, as
/// tonic does), else OK (the status then follows the body, as for every success here).
fn status_of<R>(response: &http::Response<R>) -> tonic::Code {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from)
}

impl<F, R, E> Future for Counted<F>
where
    F: Future<Output = Result<http::Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let out = match self.inner.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        if let Some(t) = self.tally.as_mut() {
            let label = out.as_ref().map_or("error", |r| outcome(status_of(r)));
            t.metrics.count(label);
            t.counted = true;
        }
        Poll::Ready(out)
    }
}
