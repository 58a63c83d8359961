//! Online splitting as optimal stopping (Yan, Bi & Zhang, seed 002; model reconstructed in
//! `shared/research/papers.md` §3.2).
//!
//! Stage `n = 0..=K`: the device has computed `n` layers and observes the channel gain `h_n`
//! (i.i.d. across stages). It either *stops* — offloads `D_n` bits and lets the edge finish,
//! paying `Φ_n(h) = (w_E·P + w_T)·D_n / r(h) + w_T·τ_n` — or *continues*, computing layer
//! `n + 1` locally for `ψ_{n+1}`. At `n = K` (layers placed on the device) it must stop; if
//! `K = N` the inference is complete there at no further cost.

pub use coinfer_sim::CostWeights;
use coinfer_sim::{predict, ChannelModel, Link, Radio, Transport, Work};

/// Errors in a stopping problem, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StoppingError {
    /// A numeric field is NaN, infinite or out of its range.
    #[error("`{field}` = {value} is invalid: must be {why}")]
    Invalid {
        /// Field (with index), e.g. `local_cost[3]`.
        field: String,
        /// Value given.
        value: f64,
        /// What it must be (`a finite number ≥ 0`).
        why: &'static str,
    },
    /// The layer table is empty or its columns have different lengths.
    #[error("layer table: {0}")]
    Table(String),
    /// The radio or channel is invalid.
    #[error(transparent)]
    Channel(#[from] coinfer_sim::ChannelError),
    /// The channel, network or compute configuration cannot be built.
    #[error(transparent)]
    Config(#[from] coinfer_sim::ConfigError),
}

/// What most numeric fields must be.
pub(crate) const NON_NEGATIVE: &str = "a finite number ≥ 0";

/// An online splitting problem over `N` layers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoppingProblem {
    /// `D_n` for `n = 0..=N`: bits sent when offloading after `n` layers (`D_0` = the input).
    pub offload_bits: Vec<f64>,
    /// `τ_n` for `n = 0..=N`: edge compute time (s) of layers `n+1..=N`.
    pub edge_time_s: Vec<f64>,
    /// `ψ_n` for `n = 1..=N` (index `n − 1`): weighted cost of computing layer `n` locally.
    pub local_cost: Vec<f64>,
    /// Uplink radio.
    pub radio: Radio,
    /// Cost weights.
    pub weights: CostWeights,
    /// RTT, stack time, framing and downlink around the fading uplink (the paper's model,
    /// payload only, by default).
    #[serde(default)]
    pub transport: Transport,
}

impl StoppingProblem {
    /// Number of layers `N`.
    pub fn layers(&self) -> usize {
        self.local_cost.len()
    }

    /// Checks lengths and that every number is finite and non-negative.
    pub fn validate(&self) -> Result<(), StoppingError> {
        let n = self.local_cost.len();
        if n == 0 {
            return Err(StoppingError::Table("no layers".into()));
        }
        if self.offload_bits.len() != n + 1 || self.edge_time_s.len() != n + 1 {
            return Err(StoppingError::Table(format!(
                "{n} layers need {} offload_bits and edge_time_s entries, got {} and {}",
                n + 1,
                self.offload_bits.len(),
                self.edge_time_s.len()
            )));
        }
        // The weights first: a bad weight makes every local cost bad, and the weight is the
        // field to fix.
        for (field, value) in
            [("weights.time", self.weights.time), ("weights.energy", self.weights.energy)]
        {
            if !(value.is_finite() && value >= 0.0) {
                return Err(StoppingError::Invalid {
                    field: field.into(),
                    value,
                    why: NON_NEGATIVE,
                });
            }
        }
        let columns: [(&str, &[f64]); 3] = [
            ("offload_bits", &self.offload_bits),
            ("edge_time_s", &self.edge_time_s),
            ("local_cost", &self.local_cost),
        ];
        for (name, col) in columns {
            if let Some((i, &v)) =
                col.iter().enumerate().find(|(_, v)| !(v.is_finite() && **v >= 0.0))
            {
                return Err(StoppingError::Invalid {
                    field: format!("{name}[{i}]"),
                    value: v,
                    why: NON_NEGATIVE,
                });
            }
        }
        self.radio.validate()?;
        Ok(())
    }

    /// `Φ_n(h)`: cost of offloading after `n` layers at gain `h` — the weighted prediction of
    /// the one cost model for the link and the edge.
    pub fn offload_cost(&self, n: usize, h: f64) -> f64 {
        self.offload_cost_at_rate(n, self.radio.rate_bps(h))
    }

    fn offload_cost_at_rate(&self, n: usize, up_bps: f64) -> f64 {
        let link =
            Link { up_bps, tx_power_w: self.radio.tx_power_w, transport: self.transport.clone() };
        let work = Work::split(0.0, 0.0, self.offload_bits[n] / 8.0, self.edge_time_s[n]);
        predict(&work, &link).weighted(&self.weights)
    }

    /// Cost of being forced to stop at the horizon `k` (0 when `k = N`: done locally).
    pub(crate) fn terminal_cost(&self, k: usize, h: f64) -> f64 {
        if k == self.layers() {
            0.0
        } else {
            self.offload_cost(k, h)
        }
    }

    /// The gain above which `Φ_n(h) ≤ g` (0: always; ∞: never).
    pub(crate) fn threshold_for(&self, n: usize, g: f64) -> f64 {
        self.gain_threshold(self.affine(n), g)
    }

    /// `(A_n, B_n)` of `Φ_n(h) = A_n + B_n / r(h)`: the cost model is affine in the inverse
    /// uplink rate (every time it adds is bytes over the rate or a constant); `A` is its value
    /// on an infinitely fast link, `B` its excess at 1 bit/s.
    pub(crate) fn affine(&self, n: usize) -> (f64, f64) {
        let fixed = self.offload_cost_at_rate(n, f64::INFINITY);
        (fixed, self.offload_cost_at_rate(n, 1.0) - fixed)
    }

    /// The gain above which `A + B / r(h) ≤ g`: the rate `B / (g − A)` (0: always; ∞: never).
    fn gain_threshold(&self, (fixed, per_inverse_rate): (f64, f64), g: f64) -> f64 {
        let slack = g - fixed;
        if slack <= 0.0 {
            return f64::INFINITY;
        }
        if per_inverse_rate <= 0.0 {
            return 0.0;
        }
        self.radio.gain_for_rate(per_inverse_rate / slack)
    }
}

/// A rule deciding, at stage `n` with gain `h`, whether to offload now.
pub trait StoppingRule {
    /// `true` = offload now.
    fn stop(&self, n: usize, h: f64) -> bool;
    /// `Some(η)` when stage `n` stops exactly for `h ≥ η` (`∞`: never): exact evaluation
    /// then integrates each side of the jump separately. `None`: any other shape.
    fn threshold(&self, _n: usize) -> Option<f64> {
        None
    }
}

/// Stop at stage `n` iff `h ≥ thresholds[n]` (the horizon stage always stops).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThresholdRule {
    /// `η_n` for `n = 0..=K` (`∞` = never stop there).
    pub thresholds: Vec<f64>,
}

impl StoppingRule for ThresholdRule {
    fn stop(&self, n: usize, h: f64) -> bool {
        self.thresholds.get(n).is_none_or(|&eta| h >= eta)
    }
    fn threshold(&self, n: usize) -> Option<f64> {
        Some(self.thresholds.get(n).copied().unwrap_or(0.0))
    }
}

/// The optimal rule by backward induction, with its expected cost.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OptimalRule {
    /// Thresholds `η_n`, `n = 0..=K`.
    pub rule: ThresholdRule,
    /// `E[V_0]`: the minimal expected cost.
    pub expected_cost: f64,
}

/// Backward induction over stages `K..0` (`k` = layers placed on the device, `k ≤ N`).
pub fn backward_induction(
    p: &StoppingProblem,
    channel: &dyn ChannelModel,
    k: usize,
) -> OptimalRule {
    backward_induction_with(p, &AffineCosts::of(p), channel, k)
}

/// Every stage's offload cost in its affine form ([`StoppingProblem::affine`]), so an
/// expectation of `Φ_n` needs only `P(h ≥ η)` and `E[1/r; h ≥ η]`, whatever the stage.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AffineCosts {
    /// `A_n`: the cost on an infinitely fast link.
    pub(crate) fixed: Vec<f64>,
    /// `B_n`: the excess at 1 bit/s.
    pub(crate) per_inverse_rate: Vec<f64>,
}

impl AffineCosts {
    /// Two predictions per stage.
    pub(crate) fn of(p: &StoppingProblem) -> AffineCosts {
        let (fixed, per_inverse_rate) = (0..=p.layers()).map(|n| p.affine(n)).unzip();
        AffineCosts { fixed, per_inverse_rate }
    }

    /// `E[Φ_n; h ≥ η]` from `P(h ≥ η)` and `E[1/r; h ≥ η]`.
    fn expect_above(&self, n: usize, mass: f64, inverse_rate: f64) -> f64 {
        self.fixed[n] * mass + self.per_inverse_rate[n] * inverse_rate
    }

    /// The gain above which `Φ_n(h) ≤ g` (as [`StoppingProblem::threshold_for`]).
    fn threshold(&self, p: &StoppingProblem, n: usize, g: f64) -> f64 {
        p.gain_threshold((self.fixed[n], self.per_inverse_rate[n]), g)
    }
}

/// [`backward_induction`] with the affine costs computed once (placement calls it for every
/// horizon).
pub(crate) fn backward_induction_with(
    p: &StoppingProblem,
    costs: &AffineCosts,
    channel: &dyn ChannelModel,
    k: usize,
) -> OptimalRule {
    let k = k.min(p.layers());
    let inverse_rate = |h: f64| 1.0 / p.radio.rate_bps(h);
    let whole = channel.expect(&inverse_rate);
    let mut thresholds = vec![0.0; k + 1];
    // E[V_K]
    let mut value = if k == p.layers() { 0.0 } else { costs.expect_above(k, 1.0, whole) };
    for n in (0..k).rev() {
        let g = p.local_cost[n] + value;
        let eta = costs.threshold(p, n, g);
        thresholds[n] = eta;
        let mass = channel.prob_at_least(eta);
        // Never and always need no integral.
        let above = if mass <= 0.0 {
            0.0
        } else if mass >= 1.0 {
            whole
        } else {
            channel.expect_above(eta, &inverse_rate)
        };
        value = costs.expect_above(n, mass, above) + (1.0 - mass) * g;
    }
    OptimalRule { rule: ThresholdRule { thresholds }, expected_cost: value }
}

/// The one-stage look-ahead rule: stop at `n` iff `Φ_n(h) ≤ ψ_{n+1} + E[Φ_{n+1}]`
/// (closed-form thresholds; one expectation per stage).
pub fn one_stage_look_ahead(
    p: &StoppingProblem,
    channel: &dyn ChannelModel,
    k: usize,
) -> ThresholdRule {
    let k = k.min(p.layers());
    let mut thresholds: Vec<f64> = (0..k)
        .map(|n| {
            let next = channel.expect(&|h| {
                if n + 1 == k {
                    p.terminal_cost(k, h)
                } else {
                    p.offload_cost(n + 1, h)
                }
            });
            p.threshold_for(n, p.local_cost[n] + next)
        })
        .collect();
    thresholds.push(0.0);
    ThresholdRule { thresholds }
}

/// Offload the raw input at stage 0, whatever the channel.
pub fn always_offload() -> ThresholdRule {
    ThresholdRule { thresholds: vec![0.0] }
}

/// Never offload before the horizon `k` (with `k = N`: fully local).
pub fn always_local(k: usize) -> ThresholdRule {
    let mut thresholds = vec![f64::INFINITY; k + 1];
    thresholds[k] = 0.0;
    ThresholdRule { thresholds }
}

/// The best fixed split in expectation: the stage whose expected cost (local layers plus the
/// expected offload cost there) is lowest, used whatever `h` is.
pub fn fixed_split(
    p: &StoppingProblem,
    channel: &dyn ChannelModel,
    k: usize,
) -> (usize, ThresholdRule) {
    let k = k.min(p.layers());
    let mut best = (0, f64::INFINITY);
    let mut local = 0.0;
    for n in 0..=k {
        let cost = local
            + channel.expect(&|h| {
                if n == k {
                    p.terminal_cost(k, h)
                } else {
                    p.offload_cost(n, h)
                }
            });
        if cost < best.1 {
            best = (n, cost);
        }
        if n < k {
            local += p.local_cost[n];
        }
    }
    let mut thresholds = vec![f64::INFINITY; best.0 + 1];
    thresholds[best.0] = 0.0;
    (best.0, ThresholdRule { thresholds })
}

/// Myopic rule: stop iff offloading now beats computing one more layer and offloading at the
/// *same* gain, `Φ_n(h) ≤ ψ_{n+1} + Φ_{n+1}(h)`.
pub struct Myopic<'a> {
    /// The problem.
    pub problem: &'a StoppingProblem,
    /// Horizon `K`.
    pub horizon: usize,
}

impl StoppingRule for Myopic<'_> {
    fn stop(&self, n: usize, h: f64) -> bool {
        let p = self.problem;
        if n >= self.horizon {
            return true;
        }
        let next = if n + 1 == self.horizon {
            p.terminal_cost(self.horizon, h)
        } else {
            p.offload_cost(n + 1, h)
        };
        p.offload_cost(n, h) <= p.local_cost[n] + next
    }

    fn threshold(&self, n: usize) -> Option<f64> {
        // Both sides are affine in 1/r: Φ_n = A_n + B_n/r against ψ + A' + B'/r, so the rule
        // is an upper threshold on the rate when B_n ≥ B' (offloading now costs at least as
        // much per inverse bit/s as after one more layer).
        let p = self.problem;
        if n >= self.horizon {
            return Some(0.0);
        }
        let (a, b) = p.affine(n);
        let (a2, b2) = if n + 1 == self.horizon && self.horizon == p.layers() {
            (0.0, 0.0)
        } else {
            p.affine(n + 1)
        };
        let slack = p.local_cost[n] + a2 - a;
        let excess = b - b2;
        if excess < 0.0 {
            // Waiting sends more: always stop when the fixed parts allow it, otherwise stop
            // only on *slow* links — not an upper threshold.
            return (slack >= 0.0).then_some(0.0);
        }
        if excess == 0.0 {
            return Some(if slack >= 0.0 { 0.0 } else { f64::INFINITY });
        }
        if slack <= 0.0 {
            return Some(f64::INFINITY);
        }
        Some(p.radio.gain_for_rate(excess / slack))
    }
}

/// Exact expected cost of any rule (exact on finite-state channels, quadrature otherwise).
pub fn expected_cost(
    p: &StoppingProblem,
    channel: &dyn ChannelModel,
    k: usize,
    rule: &dyn StoppingRule,
) -> f64 {
    let k = k.min(p.layers());
    let mut value = channel.expect(&|h| p.terminal_cost(k, h));
    for n in (0..k).rev() {
        let cont = p.local_cost[n] + value;
        value = match rule.threshold(n) {
            // Each side of the jump integrated on its own (exact splitting).
            Some(eta) => {
                channel.expect_above(eta, &|h| p.offload_cost(n, h))
                    + (1.0 - channel.prob_at_least(eta)) * cont
            }
            None => channel.expect(&|h| if rule.stop(n, h) { p.offload_cost(n, h) } else { cont }),
        };
    }
    value
}

/// Monte Carlo estimate of a rule's cost.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MonteCarlo {
    /// Sample mean.
    pub mean: f64,
    /// Half-width of the 95 % confidence interval.
    pub ci95: f64,
    /// Samples.
    pub samples: usize,
}

impl MonteCarlo {
    /// From the sum and the sum of squares of `samples` costs: the mean and the 95 %
    /// half-width of the normal interval (unbiased variance).
    pub(crate) fn from_sums(sum: f64, sum2: f64, samples: usize) -> MonteCarlo {
        let n = samples.max(1) as f64;
        let mean = sum / n;
        let var = (sum2 / n - mean * mean).max(0.0) * n / (n - 1.0).max(1.0);
        MonteCarlo { mean, ci95: 1.96 * (var / n).sqrt(), samples }
    }
}

/// Plays `rule` on `samples` independent inferences with channels drawn from `channel`.
pub fn monte_carlo(
    p: &StoppingProblem,
    channel: &dyn ChannelModel,
    k: usize,
    rule: &dyn StoppingRule,
    samples: usize,
    rng: &mut dyn rand::RngCore,
) -> MonteCarlo {
    let k = k.min(p.layers());
    let (mut sum, mut sum2) = (0.0, 0.0);
    for _ in 0..samples {
        let mut cost = 0.0;
        for n in 0..=k {
            if n == k && k == p.layers() {
                break;
            }
            let h = channel.sample(rng);
            if n == k || rule.stop(n, h) {
                cost += p.offload_cost(n, h);
                break;
            }
            cost += p.local_cost[n];
        }
        sum += cost;
        sum2 += cost * cost;
    }
    MonteCarlo::from_sums(sum, sum2, samples)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use coinfer_sim::{FiniteStateChannel, TruncatedRayleigh};
    use rand::SeedableRng;

    /// A CNN-like problem: features shrink with depth, local layers cost time and energy.
    pub(crate) fn problem() -> StoppingProblem {
        let bits = [6272.0, 100352.0, 50176.0, 50176.0, 25088.0, 12544.0, 2048.0, 320.0];
        let macs = [0.0, 2e6, 4e6, 4e6, 3e6, 3e6, 1e6, 0.1e6];
        let n = bits.len() - 1;
        let edge_rate = 1e12;
        let device_rate = 2e8; // MAC/s
        let device_power = 0.5;
        let w = CostWeights { time: 1.0, energy: 0.5 };
        StoppingProblem {
            offload_bits: bits.to_vec(),
            edge_time_s: (0..=n).map(|i| macs[i + 1..].iter().sum::<f64>() / edge_rate).collect(),
            local_cost: (1..=n)
                .map(|i| {
                    let t = macs[i] / device_rate;
                    w.time * t + w.energy * device_power * t
                })
                .collect(),
            radio: Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 },
            weights: w,
            transport: Default::default(),
        }
    }

    fn channels() -> Vec<(Box<dyn ChannelModel>, &'static str)> {
        vec![
            (Box::new(FiniteStateChannel::rayleigh_quantiles(0.02, 32).unwrap()), "finite"),
            (Box::new(TruncatedRayleigh::new(0.02, 0.002).unwrap()), "truncated"),
        ]
    }

    #[test]
    fn optimal_is_never_worse_and_matches_monte_carlo() {
        let p = problem();
        p.validate().unwrap();
        let n = p.layers();
        for (ch, name) in channels() {
            for k in [n, n / 2, 1] {
                let opt = backward_induction(&p, ch.as_ref(), k);
                let exact = expected_cost(&p, ch.as_ref(), k, &opt.rule);
                assert!(
                    (exact - opt.expected_cost).abs() <= 1e-9 * exact.max(1e-12),
                    "{name} K={k}"
                );
                let osla = one_stage_look_ahead(&p, ch.as_ref(), k);
                let (_, fixed) = fixed_split(&p, ch.as_ref(), k);
                let myopic = Myopic { problem: &p, horizon: k };
                let local = always_local(k);
                let others: Vec<(&dyn StoppingRule, &str)> = vec![
                    (&osla, "osla"),
                    (&fixed, "fixed"),
                    (&myopic, "myopic"),
                    (&local, "local"),
                ];
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(100 + k as u64);
                let mc_opt = monte_carlo(&p, ch.as_ref(), k, &opt.rule, 50_000, &mut rng);
                for (rule, rname) in others {
                    let mc = monte_carlo(&p, ch.as_ref(), k, rule, 50_000, &mut rng);
                    assert!(
                        mc_opt.mean <= mc.mean + mc_opt.ci95 + mc.ci95,
                        "{name} K={k}: Monte Carlo optimal {} ± {} > {rname} {} ± {}",
                        mc_opt.mean,
                        mc_opt.ci95,
                        mc.mean,
                        mc.ci95
                    );
                    let c = expected_cost(&p, ch.as_ref(), k, rule);
                    assert!(
                        opt.expected_cost <= c * (1.0 + 1e-12),
                        "{name} K={k}: optimal {} > {rname} {c}",
                        opt.expected_cost
                    );
                }
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(k as u64);
                let mc = monte_carlo(&p, ch.as_ref(), k, &opt.rule, 100_000, &mut rng);
                assert!(
                    (mc.mean - opt.expected_cost).abs() <= 2.0 * mc.ci95 + 1e-3 * opt.expected_cost,
                    "{name} K={k}: MC {} ± {} vs {}",
                    mc.mean,
                    mc.ci95,
                    opt.expected_cost
                );
            }
        }
        let stop0 = expected_cost(&p, channels()[0].0.as_ref(), n, &always_offload());
        assert!(stop0.is_finite());
    }

    #[test]
    fn identical_stages_have_monotone_thresholds() {
        // Same feature size and local cost at every stage, no edge term: with a forced offload at
        // the horizon K < N the continuation value grows towards the horizon, so the optimal
        // thresholds can only fall; with K = N (finish locally for free) they can only rise.
        let n = 12;
        let p = StoppingProblem {
            offload_bits: vec![16_384.0; n + 1],
            edge_time_s: vec![0.0; n + 1],
            local_cost: vec![2e-3; n],
            radio: Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 },
            weights: CostWeights { time: 1.0, energy: 0.5 },
            transport: Default::default(),
        };
        for (ch, name) in channels() {
            let forced = backward_induction(&p, ch.as_ref(), n - 2).rule.thresholds;
            assert!(
                forced[..n - 2].windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-12)),
                "{name}: {forced:?}"
            );
            let free = backward_induction(&p, ch.as_ref(), n).rule.thresholds;
            assert!(free[..n].windows(2).all(|w| w[1] >= w[0] * (1.0 - 1e-12)), "{name}: {free:?}");
            assert!(
                forced[0] > forced[n - 3] || free[0] < free[n - 1],
                "{name}: thresholds never move"
            );
        }
    }

    #[test]
    fn bad_tables_name_the_field() {
        let mut p = problem();
        p.local_cost[2] = f64::NAN;
        assert!(p.validate().unwrap_err().to_string().contains("local_cost[2]"));
        let mut p = problem();
        p.offload_bits.pop();
        assert!(matches!(p.validate(), Err(StoppingError::Table(_))));
        let mut p = problem();
        p.local_cost.clear();
        assert!(p.validate().unwrap_err().to_string().contains("no layers"));
    }
}
