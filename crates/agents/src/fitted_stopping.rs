//! A learned online-splitting rule for channels known only by a recorded trace: fitted
//! continuation values (fitted value iteration, the regression view of Q-learning for
//! optimal stopping; Tsitsiklis & Van Roy 1999).
//!
//! From the trace's transitions `(h_t, h_{t+lag})` (one stage = `lag` trace steps), backward
//! from the horizon: the continuation value at stage `n` is the regression of
//! `ψ_{n+1} + V_{n+1}(h_{t+lag})` on `h_t`, and `V_n(h) = min(Φ_n(h), C_n(h))`. The regression
//! is isotonic (non-increasing in the gain: a better channel now never predicts a worse
//! future on a positively dependent channel), so it needs no model of the channel and no
//! tuning, and each stage's rule is again a threshold on the observed gain.

use crate::error::{AgentError, Result};

/// What online splitting costs, as the learner sees it (no channel model).
pub struct SplittingCosts<'a> {
    /// `ψ_{n+1}` for `n = 0..N` (index `n`): cost of computing layer `n + 1` on the device.
    pub local_cost: &'a [f64],
    /// `Φ_n(h)`: cost of offloading after `n` layers at gain `h` (`n = 0..=N`).
    pub offload_cost: &'a dyn Fn(usize, f64) -> f64,
}

impl SplittingCosts<'_> {
    fn layers(&self) -> usize {
        self.local_cost.len()
    }

    /// Forced at the horizon `k`: offload, or nothing left at `k = N`.
    fn terminal(&self, k: usize, h: f64) -> f64 {
        if k == self.layers() {
            0.0
        } else {
            (self.offload_cost)(k, h)
        }
    }
}

/// A step function of the gain: `values[i]` on `[knots[i], knots[i+1])`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
struct Step {
    knots: Vec<f64>,
    values: Vec<f64>,
}

impl Step {
    fn at(&self, h: f64) -> f64 {
        let i = self.knots.partition_point(|&k| k <= h).saturating_sub(1);
        self.values.get(i).copied().unwrap_or(f64::INFINITY)
    }
}

/// The fitted rule: per stage, the continuation value as a step function of the gain.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FittedStopping {
    horizon: usize,
    continuation: Vec<Step>,
}

impl FittedStopping {
    /// Fits the rule with horizon `k` on `trace` (gains in time order, one stage = `lag`
    /// samples). Errors for a trace with fewer than 10 transitions, a non-positive gain or a
    /// horizon beyond the layers.
    pub fn fit(
        trace: &[f64],
        lag: usize,
        k: usize,
        costs: &SplittingCosts<'_>,
    ) -> Result<FittedStopping> {
        if lag == 0 || trace.len() < lag + 10 {
            return Err(AgentError::Config(format!(
                "a trace of {} samples has too few transitions at lag {lag} (≥ 10 needed)",
                trace.len()
            )));
        }
        if let Some(h) = trace.iter().find(|h| !(h.is_finite() && **h > 0.0)) {
            return Err(AgentError::Config(format!("trace gain {h} must be finite and > 0")));
        }
        if k > costs.layers() {
            return Err(AgentError::Config(format!(
                "horizon {k} beyond the {} layers",
                costs.layers()
            )));
        }
        // Transitions sorted by the gain now.
        let mut pairs: Vec<(f64, f64)> = trace.windows(lag + 1).map(|w| (w[0], w[lag])).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut continuation = vec![Step { knots: vec![], values: vec![] }; k];
        for n in (0..k).rev() {
            let value_next = |h: f64| {
                if n + 1 == k {
                    costs.terminal(k, h)
                } else {
                    (costs.offload_cost)(n + 1, h).min(continuation[n + 1].at(h))
                }
            };
            // Non-increasing fit = the non-decreasing fit of the negated targets.
            let negated: Vec<f64> =
                pairs.iter().map(|&(_, next)| -(costs.local_cost[n] + value_next(next))).collect();
            let fitted = coinfer_sim::isotonic(&negated);
            // Collapse equal runs into steps starting at each run's first gain (the first
            // step extends down to 0).
            let mut step = Step { knots: vec![], values: vec![] };
            for (i, (&(h, _), &v)) in pairs.iter().zip(&fitted).enumerate() {
                if i == 0 || step.values.last() != Some(&-v) {
                    step.knots.push(if i == 0 { 0.0 } else { h });
                    step.values.push(-v);
                }
            }
            continuation[n] = step;
        }
        Ok(FittedStopping { horizon: k, continuation })
    }

    /// The horizon it was fitted for.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    /// The fitted continuation value at stage `n` and gain `h` (`∞` at the horizon).
    pub fn continuation(&self, n: usize, h: f64) -> f64 {
        self.continuation.get(n).map_or(f64::INFINITY, |s| s.at(h))
    }

    /// Offload at stage `n` with gain `h` when it costs no more than continuing.
    pub fn stop(&self, n: usize, h: f64, costs: &SplittingCosts<'_>) -> bool {
        n >= self.horizon || (costs.offload_cost)(n, h) <= self.continuation(n, h)
    }
}

/// Mean cost of a rule replayed on `trace` from every start position with room for the
/// horizon: stage `n` sees `trace[t + n·lag]`. `stop(n, h)` decides.
pub fn replay_cost(
    trace: &[f64],
    lag: usize,
    k: usize,
    costs: &SplittingCosts<'_>,
    stop: &dyn Fn(usize, f64) -> bool,
) -> Option<f64> {
    let span = k * lag;
    if trace.len() <= span {
        return None;
    }
    let starts = trace.len() - span;
    let total: f64 = (0..starts)
        .map(|t| {
            let mut cost = 0.0;
            for n in 0..=k {
                let h = trace[t + n * lag];
                if n == k {
                    return cost + costs.terminal(k, h);
                }
                if stop(n, h) {
                    return cost + (costs.offload_cost)(n, h);
                }
                cost += costs.local_cost[n];
            }
            cost
        })
        .sum();
    Some(total / starts as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A 4-layer problem where waiting for a better channel pays: Φ = a + b/log2(1 + h).
    fn costs_fn() -> (Vec<f64>, impl Fn(usize, f64) -> f64) {
        let bits = [8.0, 6.0, 4.0, 2.0, 1.0];
        (vec![0.4; 4], move |n: usize, h: f64| 0.1 + bits[n] / (1.0 + h).log2())
    }

    fn gauss_markov_trace(rho: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (mut re, mut im) = (0.0f64, 0.0f64);
        let s = (1.0 - rho * rho).sqrt();
        (0..n)
            .map(|_| {
                let g = |rng: &mut rand_chacha::ChaCha8Rng| {
                    let u1: f64 = rng.random::<f64>().max(1e-300);
                    let u2: f64 = rng.random();
                    (
                        (-u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos(),
                        (-u1.ln()).sqrt() * (std::f64::consts::TAU * u2).sin(),
                    )
                };
                let (a, b) = g(&mut rng);
                (re, im) = (rho * re + s * a, rho * im + s * b);
                (4.0 * (re * re + im * im)).max(1e-3)
            })
            .collect()
    }

    /// Trained on one half of a correlated trace, the fitted rule beats offloading at once,
    /// computing to the horizon and the i.i.d. view of the same data on the other half.
    #[test]
    fn the_fitted_rule_learns_from_a_trace_and_generalises() {
        let (local, offload) = costs_fn();
        let costs = SplittingCosts { local_cost: &local, offload_cost: &offload };
        let trace = gauss_markov_trace(0.95, 40_000, 5);
        let (train, test) = trace.split_at(20_000);
        let k = 3; // forced to offload after 3 of the 4 layers
        let rule = FittedStopping::fit(train, 1, k, &costs).unwrap();
        let learned = replay_cost(test, 1, k, &costs, &|n, h| rule.stop(n, h, &costs)).unwrap();
        let offload_now = replay_cost(test, 1, k, &costs, &|_, _| true).unwrap();
        let never = replay_cost(test, 1, k, &costs, &|_, _| false).unwrap();
        // The i.i.d. view: the same fit on a shuffled trace (the marginal kept, time lost).
        let mut shuffled = train.to_vec();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.random_range(0..=i));
        }
        let iid = FittedStopping::fit(&shuffled, 1, k, &costs).unwrap();
        let iid_cost = replay_cost(test, 1, k, &costs, &|n, h| iid.stop(n, h, &costs)).unwrap();
        assert!(learned < offload_now && learned < never, "{learned} vs {offload_now}, {never}");
        assert!(learned < iid_cost, "learned {learned} vs i.i.d. {iid_cost}");
        // Continuations never increase with the gain.
        for n in 0..k {
            let c: Vec<f64> =
                [0.01, 0.1, 1.0, 10.0].iter().map(|&h| rule.continuation(n, h)).collect();
            assert!(c.windows(2).all(|w| w[1] <= w[0]), "stage {n}: {c:?}");
        }
    }

    #[test]
    fn bad_traces_are_refused() {
        let (local, offload) = costs_fn();
        let costs = SplittingCosts { local_cost: &local, offload_cost: &offload };
        assert!(FittedStopping::fit(&[1.0; 5], 1, 2, &costs).is_err());
        assert!(FittedStopping::fit(&[1.0, -1.0].repeat(20), 1, 2, &costs).is_err());
        assert!(FittedStopping::fit(&[1.0; 50], 1, 9, &costs).is_err());
        assert!(FittedStopping::fit(&[1.0; 50], 0, 2, &costs).is_err());
    }
}
