//! Model placement (seed 002's slow time scale): how many layers `K` to download to the device
//! after each model update, trading the download cost against the expected inference cost of
//! the `Q` inferences of the period.

use coinfer_sim::ChannelModel;

use crate::stopping::{backward_induction, StoppingProblem};

/// The per-period placement cost `F(K) = Ω(K) + Q·J(K)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct PlacementCost {
    /// Layers placed on the device.
    pub k: usize,
    /// Download cost `Ω(K)`.
    pub download: f64,
    /// Expected cost of one inference under the optimal splitting rule with horizon `K`.
    pub per_inference: f64,
    /// `Ω(K) + Q·J(K)`.
    pub total: f64,
}

/// Evaluates every `K = 0..=N` with the optimal splitting rule and returns all costs (index
/// = `K`) and the best one. `layer_download_cost[n − 1]` is the cost of downloading layer `n`;
/// `inferences` is `Q`, the inferences per update period.
pub fn enumerate_placement(
    p: &StoppingProblem,
    channel: &dyn ChannelModel,
    layer_download_cost: &[f64],
    inferences: f64,
) -> (Vec<PlacementCost>, PlacementCost) {
    let mut all = Vec::with_capacity(p.layers() + 1);
    let mut download = 0.0;
    for k in 0..=p.layers() {
        if k > 0 {
            download += layer_download_cost.get(k - 1).copied().unwrap_or(0.0);
        }
        let j = backward_induction(p, channel, k).expected_cost;
        all.push(PlacementCost { k, download, per_inference: j, total: download + inferences * j });
    }
    let best = all.iter().copied().fold(all[0], |b, c| if c.total < b.total { c } else { b });
    (all, best)
}

/// Closed-form placement for an MLP whose layers all have the same width, under the
/// one-stage look-ahead rule, with the edge-time term neglected (reconstruction of seed 002,
/// `papers.md` §3.2).
///
/// With a stage-independent OSLA threshold, stop probability `p = 1 − q`, `m = E[Φ | h ≥ η]`,
/// `C = E[Φ]` and `U = m + (q/p)·ψ`, the expected cost with horizon `K < N` is
/// `J(K) = U + q^K·(C − U)` and the period cost `F(K) = K·s + Q·J(K)` is convex in `K`; its
/// stationary point is `K* = ln(Q·(C − U)·ln(1/q) / s) / ln(1/q)`. The integer optimum is
/// the better of `⌊K*⌋`, `⌈K*⌉` (clipped to `0..N−1`) and `K = N` (fully local).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EqualWidthMlp {
    /// Layers `N`.
    pub layers: usize,
    /// Cost `ψ` of computing one layer on the device.
    pub local_cost: f64,
    /// Download cost `s` of one layer.
    pub download_cost: f64,
    /// Inferences per period `Q`.
    pub inferences: f64,
}

/// What the closed form found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClosedFormPlacement {
    /// The continuous stationary point `K*` (may lie outside `0..N`).
    pub k_star: f64,
    /// The integer placement chosen.
    pub k: usize,
    /// Its period cost `F(K)`.
    pub total: f64,
    /// `F(K)` for every `K = 0..=N`, from the formula.
    pub costs: Vec<f64>,
}

impl EqualWidthMlp {
    /// The closed-form placement, given the offloading cost `Φ(h)` of the (common) feature.
    pub fn closed_form(
        &self,
        channel: &dyn ChannelModel,
        offload_cost: &dyn Fn(f64) -> f64,
    ) -> ClosedFormPlacement {
        let c = channel.expect(offload_cost);
        // OSLA: stop iff Φ(h) ≤ ψ + E[Φ]; Φ decreases in h, so this is h ≥ η.
        let g = self.local_cost + c;
        let stop = |h: f64| offload_cost(h) <= g;
        let p = channel.expect(&|h| if stop(h) { 1.0 } else { 0.0 });
        let q = 1.0 - p;
        let above = channel.expect(&|h| if stop(h) { offload_cost(h) } else { 0.0 });
        let n = self.layers;
        // m = E[Φ | h ≥ η], U = m + (q/p)·ψ (only meaningful when p > 0).
        let u = if p > 0.0 { above / p + q / p * self.local_cost } else { f64::NAN };
        let formula = |k: usize| -> f64 {
            if p <= 0.0 {
                // Never stop early: compute to the horizon, then forced offload (or done).
                let j = k as f64 * self.local_cost + if k == n { 0.0 } else { c };
                return k as f64 * self.download_cost + self.inferences * j;
            }
            let j = if k == n {
                // The last stage looks ahead to finishing locally (terminal cost 0).
                let last = self.last_stage_cost(channel, offload_cost);
                u * (1.0 - q.powi(n as i32 - 1)) + q.powi(n as i32 - 1) * last
            } else {
                u + q.powi(k as i32) * (c - u)
            };
            k as f64 * self.download_cost + self.inferences * j
        };
        let costs: Vec<f64> = (0..=n).map(formula).collect();
        let k_star = if p > 0.0 && q > 0.0 {
            let arg = self.inferences * (c - u) * (1.0 / q).ln() / self.download_cost;
            if arg > 0.0 {
                arg.ln() / (1.0 / q).ln()
            } else {
                f64::NEG_INFINITY
            }
        } else {
            f64::NAN
        };
        let mut candidates = vec![n];
        if k_star.is_finite() && n > 0 {
            let lo = k_star.floor().clamp(0.0, (n - 1) as f64) as usize;
            let hi = k_star.ceil().clamp(0.0, (n - 1) as f64) as usize;
            candidates.extend([lo, hi]);
        } else {
            candidates.extend(0..n);
        }
        let k = candidates.into_iter().fold(n, |b, k| if costs[k] < costs[b] { k } else { b });
        ClosedFormPlacement { k_star, k, total: costs[k], costs }
    }

    /// Expected cost from the last stage `N − 1` when the horizon is `N`: OSLA compares
    /// `Φ(h)` with `ψ` (finishing locally).
    fn last_stage_cost(
        &self,
        channel: &dyn ChannelModel,
        offload_cost: &dyn Fn(f64) -> f64,
    ) -> f64 {
        channel.expect(&|h| offload_cost(h).min(self.local_cost))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stopping::{expected_cost, one_stage_look_ahead, CostWeights};
    use coinfer_sim::{FiniteStateChannel, Radio, TruncatedRayleigh};

    fn mlp_problem(n: usize, psi: f64) -> StoppingProblem {
        StoppingProblem {
            offload_bits: vec![32.0 * 256.0; n + 1],
            edge_time_s: vec![0.0; n + 1],
            local_cost: vec![psi; n],
            radio: Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 },
            weights: CostWeights { time: 1.0, energy: 0.5 },
            transport: Default::default(),
        }
    }

    #[test]
    fn closed_form_matches_enumeration_of_the_osla_cost() {
        let mut interior = 0;
        for (n, psi, s, q_inf) in [
            (8, 2e-3, 1e-3, 50.0),
            (12, 1e-3, 5e-2, 200.0),
            (6, 5e-3, 1e-4, 10.0),
            (10, 5e-4, 1e-2, 1000.0),
        ] {
            let p = mlp_problem(n, psi);
            let mlp =
                EqualWidthMlp { layers: n, local_cost: psi, download_cost: s, inferences: q_inf };
            for ch in [
                Box::new(FiniteStateChannel::rayleigh_quantiles(0.01, 24).unwrap())
                    as Box<dyn ChannelModel>,
                Box::new(TruncatedRayleigh::new(0.01, 0.001).unwrap()),
            ] {
                let cf = mlp.closed_form(ch.as_ref(), &|h| p.offload_cost(0, h));
                interior += usize::from(cf.k > 0 && cf.k < n && cf.k_star.is_finite());
                // Enumeration: F(K) from the exact expected cost of the OSLA rule.
                let enumerated: Vec<f64> = (0..=n)
                    .map(|k| {
                        let rule = one_stage_look_ahead(&p, ch.as_ref(), k);
                        k as f64 * s + q_inf * expected_cost(&p, ch.as_ref(), k, &rule)
                    })
                    .collect();
                for (k, (a, b)) in cf.costs.iter().zip(&enumerated).enumerate() {
                    assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-12), "N={n} K={k}: {a} vs {b}");
                }
                let best =
                    (0..=n).fold(0, |b, k| if enumerated[k] < enumerated[b] { k } else { b });
                assert!(
                    (cf.total - enumerated[best]).abs() <= 1e-9 * enumerated[best],
                    "N={n}: closed form K={} ({}) vs enumeration K={best} ({})",
                    cf.k,
                    cf.total,
                    enumerated[best]
                );
            }
        }
        assert_eq!(interior, 8, "every case should have its optimum strictly inside 0..N");
    }

    #[test]
    fn enumeration_trades_download_against_inference_cost() {
        let p = mlp_problem(8, 1e-3);
        let ch = FiniteStateChannel::rayleigh_quantiles(0.01, 16).unwrap();
        let cheap = enumerate_placement(&p, &ch, &[1e-9; 8], 100.0).1;
        let dear = enumerate_placement(&p, &ch, &[10.0; 8], 100.0).1;
        assert!(cheap.k >= dear.k);
        assert_eq!(dear.k, 0, "downloading is too expensive: place nothing");
    }
}
