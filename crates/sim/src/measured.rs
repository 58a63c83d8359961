//! A model as measured on this host (full model, every head and tail), and the per-layer
//! times robustly fitted to it.

use crate::layer_cost::LayerTimes;

/// One cut as measured on the host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeasuredCut {
    /// Index in the model's cut list.
    pub index: usize,
    /// Cut tensor name.
    pub tensor: String,
    /// Head latency on the host (s, median).
    pub head_s: f64,
    /// Tail latency on the host (s, median).
    pub tail_s: f64,
    /// Multiply–accumulates of the head.
    pub head_macs: u64,
    /// Feature bytes per inference.
    pub feature_bytes: u64,
}

/// A model as measured on the host.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeasuredModel {
    /// Multiply–accumulates per inference.
    pub total_macs: u64,
    /// Full-model latency on the host (s, median).
    pub full_s: f64,
    /// Input bytes per inference (sent by edge-only offloading).
    pub input_bytes: u64,
    /// Every valid cut, in order.
    pub cuts: Vec<MeasuredCut>,
}

/// Below this total (s), host timings say nothing about how the time divides among layers:
/// the layers get shares proportional to their MACs (an op-level model).
pub const TIMER_FLOOR_S: f64 = 20e-6;

impl MeasuredModel {
    /// The host's effective throughput on this model, GMAC/s.
    pub fn host_gmacs(&self) -> f64 {
        self.total_macs as f64 / self.full_s.max(1e-12) / 1e9
    }

    /// Per-layer times (layer `k` = the segment between cuts `k − 1` and `k`) fitted to the
    /// measurements so that heads nest: a head never costs less than a shorter one, and a
    /// head plus its tail costs the full model plus one call.
    ///
    /// With `L` the per-call time and `C_k` the time of the first `k` layers, head `k` should
    /// take `L + C_{k+1}` and tail `k` take `L + S − C_{k+1}` (`S` = the full model less `L`).
    /// `L` is the median over cuts of `head + tail − full` (≥ 0); each `C` is the mean of its
    /// two estimates (from the head and from the tail), made non-decreasing by isotonic
    /// regression (pool-adjacent-violators) and clamped to `[0, S]`. Where `S` is below
    /// [`TIMER_FLOOR_S`] the layers share `S` by MACs instead.
    pub fn layer_times(&self, name: &str, power_w: f64) -> LayerTimes {
        let full = self.full_s.max(0.0);
        let mut excess: Vec<f64> = self.cuts.iter().map(|c| c.head_s + c.tail_s - full).collect();
        let call_s = median(&mut excess).unwrap_or(0.0).clamp(0.0, full);
        let body = full - call_s;
        let cumulative: Vec<f64> = if body < TIMER_FLOOR_S {
            let total = self.total_macs.max(1) as f64;
            self.cuts.iter().map(|c| body * c.head_macs as f64 / total).collect()
        } else {
            let raw: Vec<f64> =
                self.cuts.iter().map(|c| ((c.head_s - call_s) + (full - c.tail_s)) / 2.0).collect();
            isotonic(&raw).into_iter().map(|c| c.clamp(0.0, body)).collect()
        };
        let mut layer_s = Vec::with_capacity(cumulative.len() + 1);
        let mut prev = 0.0;
        for c in cumulative.iter().chain(std::iter::once(&body)) {
            layer_s.push((c - prev).max(0.0));
            prev = prev.max(*c);
        }
        LayerTimes { name: name.into(), power_w, call_s, layer_s }
    }
}

/// Median of `xs` (reordered), `None` if empty.
fn median(xs: &mut [f64]) -> Option<f64> {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(xs[n / 2]),
        _ => Some((xs[n / 2 - 1] + xs[n / 2]) / 2.0),
    }
}

/// The non-decreasing sequence closest to `ys` in least squares (pool-adjacent-violators).
/// Written here: a dozen lines, where a crate would bring a statistics stack.
pub fn isotonic(ys: &[f64]) -> Vec<f64> {
    let mut blocks: Vec<(f64, usize)> = Vec::with_capacity(ys.len()); // (mean, count)
    for &y in ys {
        blocks.push((y, 1));
        while blocks.len() > 1 && blocks[blocks.len() - 2].0 > blocks[blocks.len() - 1].0 {
            let (m2, n2) = blocks.pop().unwrap_or((0.0, 0));
            let (m1, n1) = blocks.pop().unwrap_or((0.0, 0));
            let n = n1 + n2;
            blocks.push(((m1 * n1 as f64 + m2 * n2 as f64) / n as f64, n));
        }
    }
    blocks.into_iter().flat_map(|(m, n)| std::iter::repeat_n(m, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer_cost::LayerCost;
    use crate::layers::{Layer, LayerTable};
    use rand::{Rng, SeedableRng};

    /// A model whose true layer times are `truth` (s) with per-call time `call`, measured with
    /// multiplicative noise of up to `noise` on every timing.
    fn measure(truth: &[f64], call: f64, noise: f64, seed: u64) -> MeasuredModel {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut jitter = |t: f64| t * (1.0 + rng.random_range(-noise..=noise));
        let total: f64 = truth.iter().sum();
        let mut head = 0.0;
        let cuts = (0..truth.len() - 1)
            .map(|k| {
                head += truth[k];
                MeasuredCut {
                    index: k,
                    tensor: format!("t{k}"),
                    head_s: jitter(call + head),
                    tail_s: jitter(call + total - head),
                    head_macs: (head * 1e9) as u64,
                    feature_bytes: 100,
                }
            })
            .collect();
        MeasuredModel {
            total_macs: (total * 1e9) as u64,
            full_s: jitter(call + total),
            input_bytes: 3136,
            cuts,
        }
    }

    #[test]
    fn isotonic_regression_pools_violators() {
        assert_eq!(isotonic(&[1.0, 3.0, 2.0, 4.0]), vec![1.0, 2.5, 2.5, 4.0]);
        assert_eq!(isotonic(&[3.0, 2.0, 1.0]), vec![2.0; 3]);
        assert!(isotonic(&[]).is_empty());
    }

    #[test]
    fn heads_nest_and_head_plus_tail_covers_the_model_under_noise() {
        let truth = [2e-4, 5e-5, 1e-6, 3e-4, 1e-6, 1e-4];
        let table = LayerTable {
            input_values: 784.0,
            bits_per_value: 32.0,
            layers: vec![Layer::new(1.0, 1.0, 0.0); truth.len()],
        };
        for seed in 0..50 {
            let m = measure(&truth, 3e-5, 0.4, seed);
            let t = m.layer_times("host", 1.0);
            assert_eq!(t.layer_s.len(), truth.len());
            let n = truth.len();
            let full = t.run_s(&table, 0..n);
            let mut last = 0.0;
            for k in 1..n {
                let head = t.run_s(&table, 0..k);
                assert!(head >= last, "seed {seed}: head {k} shorter than head {}", k - 1);
                assert!(head + t.run_s(&table, k..n) >= full - 1e-15, "seed {seed}");
                last = head;
            }
        }
    }

    #[test]
    fn the_chosen_split_does_not_flip_with_timing_noise() {
        use crate::cost_model::Link;
        use crate::layers::Compute;
        use crate::split_options::{split_options, SplitChoice};
        // Cut 2 (after the third layer) is twice as fast as anything else at 1 Mbit/s.
        let truth = [2e-3, 5e-4, 3e-4, 5e-3];
        let outputs = [2000.0, 500.0, 20.0, 10.0];
        let table = LayerTable {
            input_values: 784.0,
            bits_per_value: 32.0,
            layers: outputs.iter().map(|&o| Layer::new(1.0, o, 0.0)).collect(),
        };
        let names: Vec<String> = (0..3).map(|i| format!("t{i}")).collect();
        let edge = Compute::throughput(1e15, 1.0);
        let link = Link::simple(1e6, 0.0);
        for seed in 0..100 {
            let fit = measure(&truth, 5e-5, 0.1, seed).layer_times("host", 1.0);
            let options = split_options(&table, &names, &fit, &edge).expect("options");
            let best = options
                .iter()
                .map(|o| o.latency(&link))
                .min_by(|a, b| a.prediction.total_s.total_cmp(&b.prediction.total_s))
                .expect("options");
            assert!(
                matches!(best.option.choice, SplitChoice::Cut { index: 2, .. }),
                "seed {seed}: {}",
                best.option.choice
            );
        }
    }

    #[test]
    fn timings_below_the_timer_floor_divide_by_macs() {
        let truth = [1e-6, 3e-6];
        let m = measure(&truth, 0.0, 0.0, 1);
        let t = m.layer_times("host", 1.0);
        assert!((t.layer_s[1] / t.layer_s[0] - 3.0).abs() < 1e-6, "{:?}", t.layer_s);
    }
}
