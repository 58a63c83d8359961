//! Online splitting when the channel is a finite-state Markov chain across stages
//! ([`MarkovChannel`]): the gain after layer `n` depends on the gain after layer `n − 1`.
//!
//! The state is (stage `n`, channel state `s`). Backward induction:
//! `V_K(s) = Φ_K(h_s)` (0 when `K = N`), and for `n < K`
//! `V_n(s) = min(Φ_n(h_s), ψ_{n+1} + Σ_{s'} P[s][s']·V_{n+1}(s'))`, with expected cost
//! `Σ_s π₀(s)·V_0(s)`. Unlike the i.i.d. rule, the continuation value depends on the state
//! now: a good channel now predicts a good channel after the next layer. On a monotone chain
//! the stop set of each stage is an upper set of states, so the rule is again a threshold on
//! the observed rate — with different thresholds — and runs on the device unchanged.

use coinfer_sim::MarkovChannel;

use crate::stopping::{MonteCarlo, StoppingProblem};

/// A rule over (stage, channel state): `true` = offload now. The horizon stage always
/// offloads (or finishes, at `K = N`).
pub trait StateRule {
    /// Whether to offload at stage `n` in state `s`.
    fn stop(&self, n: usize, s: usize) -> bool;
}

/// A decision table over (stage, state).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TableRule {
    /// `stop[n][s]`, `n = 0..=K`.
    pub stop: Vec<Vec<bool>>,
}

impl StateRule for TableRule {
    fn stop(&self, n: usize, s: usize) -> bool {
        self.stop.get(n).is_none_or(|row| row.get(s).copied().unwrap_or(true))
    }
}

impl TableRule {
    /// Per stage, the lowest state that stops when the stop set is an upper set of states
    /// (`Some(S)`: never stops there), `None` if some stage's set is not.
    pub fn lowest_stopping_states(&self) -> Option<Vec<usize>> {
        self.stop
            .iter()
            .map(|row| {
                let first = row.iter().position(|&b| b).unwrap_or(row.len());
                row[first..].iter().all(|&b| b).then_some(first)
            })
            .collect()
    }

    /// As gain thresholds `η_n` (stop iff `h ≥ η_n`) on `channel`'s state boundaries, when
    /// every stop set is an upper set (see [`TableRule::lowest_stopping_states`]).
    pub fn gain_thresholds(&self, channel: &MarkovChannel) -> Option<Vec<f64>> {
        let lowest = self.lowest_stopping_states()?;
        Some(
            lowest
                .into_iter()
                .map(|s| if s >= channel.states() { f64::INFINITY } else { channel.lower_edge(s) })
                .collect(),
        )
    }
}

/// A gain-threshold rule (an i.i.d. rule, a fixed split) played on the chain's states.
pub struct OnStates<'a> {
    /// `η_n`: stop iff the state's gain is ≥ it.
    pub thresholds: &'a [f64],
    /// The chain whose state gains are compared.
    pub channel: &'a MarkovChannel,
}

impl StateRule for OnStates<'_> {
    fn stop(&self, n: usize, s: usize) -> bool {
        self.thresholds.get(n).is_none_or(|&eta| self.channel.gains()[s] >= eta)
    }
}

/// The optimal rule by backward induction over (stage, state).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MarkovOptimal {
    /// The decisions.
    pub rule: TableRule,
    /// `V_n(s)`.
    pub values: Vec<Vec<f64>>,
    /// `Σ_s π₀(s)·V_0(s)`.
    pub expected_cost: f64,
}

/// Offload cost `Φ_n` at every state of `channel` (the cost model is affine in the inverse
/// rate, so two predictions per stage give every state's cost).
fn offload_costs(p: &StoppingProblem, channel: &MarkovChannel, n: usize) -> Vec<f64> {
    let (fixed, per_inverse_rate) = p.affine(n);
    channel.gains().iter().map(|&h| fixed + per_inverse_rate / p.radio.rate_bps(h)).collect()
}

fn terminal_costs(p: &StoppingProblem, channel: &MarkovChannel, k: usize) -> Vec<f64> {
    if k == p.layers() {
        vec![0.0; channel.states()]
    } else {
        offload_costs(p, channel, k)
    }
}

/// `Σ_{s'} P[s][s']·v[s']` for every `s`.
fn expect_next(channel: &MarkovChannel, v: &[f64]) -> Vec<f64> {
    (0..channel.states()).map(|s| channel.row(s).iter().zip(v).map(|(p, x)| p * x).sum()).collect()
}

/// Backward induction with horizon `k` (layers placed on the device, clamped to `N`).
pub fn markov_backward_induction(
    p: &StoppingProblem,
    channel: &MarkovChannel,
    k: usize,
) -> MarkovOptimal {
    let k = k.min(p.layers());
    let states = channel.states();
    let mut values = vec![vec![0.0; states]; k + 1];
    let mut stop = vec![vec![true; states]; k + 1];
    values[k] = terminal_costs(p, channel, k);
    for n in (0..k).rev() {
        let next = expect_next(channel, &values[n + 1]);
        let offload = offload_costs(p, channel, n);
        for s in 0..states {
            let cont = p.local_cost[n] + next[s];
            stop[n][s] = offload[s] <= cont;
            values[n][s] = offload[s].min(cont);
        }
    }
    let expected_cost = channel.initial().iter().zip(&values[0]).map(|(a, b)| a * b).sum();
    MarkovOptimal { rule: TableRule { stop }, values, expected_cost }
}

/// The exact expected cost of any state rule on the chain, horizon `k`.
pub fn markov_expected_cost(
    p: &StoppingProblem,
    channel: &MarkovChannel,
    k: usize,
    rule: &dyn StateRule,
) -> f64 {
    let k = k.min(p.layers());
    let mut value = terminal_costs(p, channel, k);
    for n in (0..k).rev() {
        let next = expect_next(channel, &value);
        let offload = offload_costs(p, channel, n);
        value = (0..channel.states())
            .map(|s| if rule.stop(n, s) { offload[s] } else { p.local_cost[n] + next[s] })
            .collect();
    }
    channel.initial().iter().zip(&value).map(|(a, b)| a * b).sum()
}

/// One-stage look-ahead on the chain: offload at `(n, s)` iff
/// `Φ_n(h_s) ≤ ψ_{n+1} + E[Φ_{n+1}(h_{s'}) | s]` (the horizon's cost at `n + 1 = K`).
pub fn markov_one_stage_look_ahead(
    p: &StoppingProblem,
    channel: &MarkovChannel,
    k: usize,
) -> TableRule {
    let k = k.min(p.layers());
    let mut stop = vec![vec![true; channel.states()]; k + 1];
    for (n, row) in stop.iter_mut().enumerate().take(k) {
        let after = if n + 1 == k {
            terminal_costs(p, channel, k)
        } else {
            offload_costs(p, channel, n + 1)
        };
        let next = expect_next(channel, &after);
        let offload = offload_costs(p, channel, n);
        for (s, b) in row.iter_mut().enumerate() {
            *b = offload[s] <= p.local_cost[n] + next[s];
        }
    }
    TableRule { stop }
}

/// Plays `rule` on `samples` inferences whose channel follows the chain stage by stage.
pub fn markov_monte_carlo(
    p: &StoppingProblem,
    channel: &MarkovChannel,
    k: usize,
    rule: &dyn StateRule,
    samples: usize,
    rng: &mut dyn rand::RngCore,
) -> MonteCarlo {
    let k = k.min(p.layers());
    let (mut sum, mut sum2) = (0.0, 0.0);
    for _ in 0..samples {
        let mut cost = 0.0;
        let mut s = channel.first(rng);
        for n in 0..=k {
            if n == k && k == p.layers() {
                break;
            }
            if n == k || rule.stop(n, s) {
                cost += p.offload_cost(n, channel.gains()[s]);
                break;
            }
            cost += p.local_cost[n];
            s = channel.next(s, rng);
        }
        sum += cost;
        sum2 += cost * cost;
    }
    MonteCarlo::from_sums(sum, sum2, samples)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stopping::backward_induction;
    use crate::stopping::tests::problem;
    use rand::SeedableRng;

    /// At ρ = 0 the chain is i.i.d. and both inductions agree; with correlation the Markov
    /// rule is never worse than the i.i.d. rule played on the chain, and Monte Carlo agrees.
    #[test]
    fn markov_induction_is_exact_optimal_and_reduces_to_iid() {
        let p = problem();
        let n = p.layers();
        for rho in [0.0, 0.6, 0.95] {
            let ch = MarkovChannel::gauss_markov(rho, 0.02, 24).unwrap();
            let iid = ch.marginal().unwrap();
            for k in [n, 3] {
                let opt = markov_backward_induction(&p, &ch, k);
                let exact = markov_expected_cost(&p, &ch, k, &opt.rule);
                assert!((exact - opt.expected_cost).abs() <= 1e-12 * exact, "ρ={rho} K={k}");
                let iid_rule = backward_induction(&p, &iid, k);
                let on_chain = OnStates { thresholds: &iid_rule.rule.thresholds, channel: &ch };
                let iid_cost = markov_expected_cost(&p, &ch, k, &on_chain);
                assert!(opt.expected_cost <= iid_cost * (1.0 + 1e-12), "ρ={rho} K={k}");
                if rho == 0.0 {
                    let rel = (iid_cost - opt.expected_cost).abs() / opt.expected_cost;
                    assert!(rel < 1e-12, "ρ=0 K={k}: {rel}");
                    let also = (iid_rule.expected_cost - opt.expected_cost).abs();
                    assert!(also <= 1e-12 * opt.expected_cost, "ρ=0 K={k}");
                }
                let osla = markov_one_stage_look_ahead(&p, &ch, k);
                assert!(
                    opt.expected_cost <= markov_expected_cost(&p, &ch, k, &osla) * (1.0 + 1e-12)
                );
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(k as u64);
                let mc = markov_monte_carlo(&p, &ch, k, &opt.rule, 100_000, &mut rng);
                assert!(
                    (mc.mean - opt.expected_cost).abs() <= 3.0 * mc.ci95 + 1e-9,
                    "ρ={rho} K={k}: MC {} ± {} vs {}",
                    mc.mean,
                    mc.ci95,
                    opt.expected_cost
                );
            }
        }
    }

    /// On the quantised Gauss–Markov chain the stop sets are upper sets (a better channel
    /// never turns an offload into a wait), so the rule runs as rate thresholds.
    #[test]
    fn the_markov_rule_is_a_threshold_on_the_current_gain() {
        let p = problem();
        for rho in [0.3, 0.9, 0.99] {
            let ch = MarkovChannel::gauss_markov(rho, 0.02, 32).unwrap();
            let opt = markov_backward_induction(&p, &ch, p.layers());
            let eta = opt.rule.gain_thresholds(&ch).expect("upper sets");
            assert_eq!(eta.len(), p.layers() + 1);
            for (n, &eta_n) in eta.iter().enumerate().take(p.layers()) {
                for s in 0..ch.states() {
                    assert_eq!(opt.rule.stop(n, s), ch.gains()[s] >= eta_n, "ρ={rho} n={n} s={s}");
                }
            }
        }
    }
}
