//! Prometheus metrics of the edge server (text exposition format at `/metrics`).

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Label set: one `(name, value)` pair; static strings, so recording allocates nothing.
type Label = [(&'static str, &'static str); 1];

fn latency_histogram() -> Histogram {
    // 20 µs … ~5 s
    Histogram::new(exponential_buckets(2e-5, 2.0, 18))
}

/// The edge's metrics. Cheap to update from any thread.
pub struct EdgeMetrics {
    registry: Registry,
    /// `Infer` requests by outcome (`ok`, `invalid`, `not_found`, `unauthenticated`,
    /// `forbidden`, `overloaded`, `deadline`, `too_large`, `cancelled`, `internal`, `error`): every request,
    /// counted at the transport ([`crate::outcomes`]).
    pub requests: Family<Label, Counter>,
    /// Per-stage server latency in seconds, label `stage` (`shaping`, `decode`, `queue`,
    /// `tail`, `total`).
    pub stage_seconds: Family<Label, Histogram, fn() -> Histogram>,
    /// Samples per executed batch.
    pub batch_size: Histogram,
    /// Jobs waiting for a worker.
    pub queue_length: Gauge,
    /// Requests being handled.
    pub in_flight: Gauge,
    /// Feature bytes received.
    pub frame_bytes: Counter,
    /// Model (head) bytes streamed to devices by `FetchModel`.
    pub model_bytes_served: Counter,
    /// gRPC connections open now.
    pub connections: Gauge,
    /// Connections closed at once because `max_connections` were open.
    pub connections_refused: Counter,
}

impl Default for EdgeMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("coinfer_edge");
        let requests = Family::<Label, Counter>::default();
        let stage_seconds = Family::<Label, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 8));
        let queue_length = Gauge::default();
        let in_flight = Gauge::default();
        let frame_bytes = Counter::default();
        let model_bytes_served = Counter::default();
        let connections = Gauge::default();
        let connections_refused = Counter::default();
        registry.register("connections", "gRPC connections open", connections.clone());
        registry.register(
            "connections_refused",
            "Connections closed at once: max_connections were open",
            connections_refused.clone(),
        );
        registry.register("requests", "Requests by outcome", requests.clone());
        registry.register(
            "stage_seconds",
            "Server-side latency per stage, seconds",
            stage_seconds.clone(),
        );
        registry.register("batch_size", "Samples per tail batch", batch_size.clone());
        registry.register("queue_length", "Jobs waiting for a worker", queue_length.clone());
        registry.register("in_flight", "Requests being handled", in_flight.clone());
        registry.register("frame_bytes", "Feature frame bytes received", frame_bytes.clone());
        registry.register(
            "model_bytes_served",
            "Model head bytes streamed to devices",
            model_bytes_served.clone(),
        );
        EdgeMetrics {
            registry,
            requests,
            stage_seconds,
            batch_size,
            queue_length,
            in_flight,
            frame_bytes,
            model_bytes_served,
            connections,
            connections_refused,
        }
    }
}

/// The content type of [`EdgeMetrics::render`]'s text: OpenMetrics 1.0 (what
/// prometheus-client writes, ending in `# EOF`), which Prometheus negotiates and parses.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl EdgeMetrics {
    /// Counts one request with `outcome`.
    pub fn count(&self, outcome: &'static str) {
        self.requests.get_or_create(&[("outcome", outcome)]).inc();
    }

    /// Records a stage time in seconds.
    pub fn stage(&self, stage: &'static str, seconds: f64) {
        self.stage_seconds.get_or_create(&[("stage", stage)]).observe(seconds);
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_histograms() {
        let m = EdgeMetrics::default();
        m.count("ok");
        m.count("ok");
        m.stage("tail", 0.001);
        m.batch_size.observe(4.0);
        let text = m.render();
        assert!(text.contains("coinfer_edge_requests_total{outcome=\"ok\"} 2"), "{text}");
        assert!(text.contains("coinfer_edge_stage_seconds_count{stage=\"tail\"} 1"), "{text}");
        assert!(text.contains("coinfer_edge_batch_size_sum 4"), "{text}");
    }
}
