//! Model placement (seed 002's slow time scale): how many layers `K` to download to the device
//! after each model update, trading the download cost against the expected inference cost of
//! the `Q` inferences of the period.

use coinfer_sim::ChannelModel;

use crate::stopping::StoppingProblem;

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
    // Every horizon's induction is independent: one per core (rayon).
    use rayon::prelude::*;
    let affine = crate::stopping::AffineCosts::of(p);
    let per_inference: Vec<f64> = (0..=p.layers())
        .into_par_iter()
        .map(|k| crate::stopping::backward_induction_with(p, &affine, channel, k).expected_cost)
        .collect();
    let download: Vec<f64> = std::iter::once(0.0)
        .chain(layer_download_cost.iter().scan(0.0, |sum, c| {
            *sum += c;
            Some(*sum)
        }))
        .chain(std::iter::repeat(layer_download_cost.iter().sum()))
        .take(per_inference.len())
        .collect();
    placement_costs(&per_inference, &download, inferences)
}

/// `F(K) = Ω(K) + Q·J(K)` for every `K` from the per-inference costs `J(K)` and the
/// download costs `Ω(K)` (both indexed by `K`, the same length), and the best `K` (the
/// smallest on ties).
pub fn placement_costs(
    per_inference: &[f64],
    download: &[f64],
    inferences: f64,
) -> (Vec<PlacementCost>, PlacementCost) {
    let all: Vec<PlacementCost> = per_inference
        .iter()
        .zip(download)
        .enumerate()
        .map(|(k, (&j, &d))| PlacementCost {
            k,
            download: d,
            per_inference: j,
            total: d + inferences * j,
        })
        .collect();
    let first = all.first().copied().unwrap_or(PlacementCost {
        k: 0,
        download: 0.0,
        per_inference: f64::NAN,
        total: f64::NAN,
    });
    let best = all.iter().copied().fold(first, |b, c| if c.total < b.total { c } else { b });
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
    /// The closed-form placement for problem `p` (an equal-width MLP: the same feature after
    /// every layer, edge time `τ_n = (N − n)·t_e`). The edge term is folded in, not dropped:
    /// stopping after `n` layers costs `Σ_{i<n}(ψ − w_T·t_e) + Φ′(h) + w_T·N·t_e` with `Φ′` the
    /// offload cost without edge time, so the formula runs with `ψ′ = ψ − w_T·t_e` and adds
    /// the constant `w_T·N·t_e` to every `J(K)` (finishing locally gives the same identity).
    /// Every expectation splits exactly at the OSLA threshold.
    pub fn closed_form(
        &self,
        channel: &dyn ChannelModel,
        p: &StoppingProblem,
    ) -> ClosedFormPlacement {
        let n = self.layers;
        let w_t = p.weights.time;
        let tau0 = p.edge_time_s.first().copied().unwrap_or(0.0);
        let tau1 = p.edge_time_s.get(1).copied().unwrap_or(0.0);
        let edge_layer = w_t * (tau0 - tau1);
        let constant = n as f64 * edge_layer;
        let psi = self.local_cost - edge_layer;
        let phi = |h: f64| p.offload_cost(0, h) - w_t * tau0;
        let c = channel.expect(&phi);
        // OSLA: stop iff Φ′(h) ≤ ψ′ + E[Φ′], i.e. Φ_0(h) ≤ that + w_T·τ_0: h ≥ η.
        let eta = p.threshold_for(0, psi + c + w_t * tau0);
        let prob = channel.prob_at_least(eta);
        let q = 1.0 - prob;
        let above = channel.expect_above(eta, &phi);
        // m = E[Φ′ | h ≥ η], U = m + (q/p)·ψ′ (only meaningful when p > 0).
        let u = if prob > 0.0 { above / prob + q / prob * psi } else { f64::NAN };
        let formula = |k: usize| -> f64 {
            if prob <= 0.0 {
                // Never stop early: compute to the horizon, then forced offload (or done).
                let j = k as f64 * psi + if k == n { 0.0 } else { c };
                return k as f64 * self.download_cost + self.inferences * (j + constant);
            }
            let j = if k == n {
                // The last stage looks ahead to finishing locally (terminal cost 0).
                let last = {
                    let eta_last = p.threshold_for(0, psi + w_t * tau0);
                    channel.expect_above(eta_last, &phi)
                        + (1.0 - channel.prob_at_least(eta_last)) * psi
                };
                u * (1.0 - q.powi(n as i32 - 1)) + q.powi(n as i32 - 1) * last
            } else {
                u + q.powi(k as i32) * (c - u)
            };
            k as f64 * self.download_cost + self.inferences * (j + constant)
        };
        let costs: Vec<f64> = (0..=n).map(formula).collect();
        let k_star = if prob > 0.0 && q > 0.0 {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stopping::{expected_cost, one_stage_look_ahead, CostWeights};
    use coinfer_sim::{FiniteStateChannel, Radio, TruncatedRayleigh};

    fn mlp_problem(n: usize, psi: f64) -> StoppingProblem {
        mlp_with_edge(n, psi, 0.0)
    }

    /// Edge time `t_e` per remaining layer.
    fn mlp_with_edge(n: usize, psi: f64, t_e: f64) -> StoppingProblem {
        StoppingProblem {
            offload_bits: vec![32.0 * 256.0; n + 1],
            edge_time_s: (0..=n).map(|i| (n - i) as f64 * t_e).collect(),
            local_cost: vec![psi; n],
            radio: Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 },
            weights: CostWeights { time: 1.0, energy: 0.5 },
            transport: Default::default(),
        }
    }

    #[test]
    fn closed_form_matches_enumeration_of_the_osla_cost() {
        let mut interior = 0;
        for (n, psi, s, q_inf, t_e) in [
            (8, 2e-3, 1e-3, 50.0, 0.0),
            (12, 1e-3, 5e-2, 200.0, 0.0),
            (6, 5e-3, 1e-4, 10.0, 0.0),
            (10, 5e-4, 1e-2, 1000.0, 0.0),
            // A slow edge: its time folds into the local cost (ψ′ = ψ − w_T·t_e).
            (8, 2e-3, 1e-3, 50.0, 1.2e-3),
        ] {
            let p = mlp_with_edge(n, psi, t_e);
            let mlp =
                EqualWidthMlp { layers: n, local_cost: psi, download_cost: s, inferences: q_inf };
            for ch in [
                Box::new(FiniteStateChannel::rayleigh_quantiles(0.01, 24).unwrap())
                    as Box<dyn ChannelModel>,
                Box::new(TruncatedRayleigh::new(0.01, 0.001).unwrap()),
            ] {
                let cf = mlp.closed_form(ch.as_ref(), &p);
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
        assert_eq!(interior, 10, "every case should have its optimum strictly inside 0..N");
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
