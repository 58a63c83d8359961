//! Finite-state Markov channels: the gain moves between `S` states from one stage (one
//! layer's compute time) to the next with a row-stochastic transition matrix — the model of
//! seed 002's online splitting when consecutive layers see correlated fading.
//!
//! Built from a Gauss–Markov (Jakes / AR(1)) Rayleigh process by quantising its stationary
//! law into `S` equiprobable bins (transition probabilities integrated, not sampled), or
//! fitted from a recorded trace by counting transitions between quantile bins at a lag.

use rand::Rng;

use crate::channel::{ChannelError, FiniteStateChannel};

/// Tolerance on a probability row's sum.
const ROW_SUM_TOLERANCE: f64 = 1e-9;

/// A finite-state Markov channel: state `s` has gain `gains[s]` (sorted ascending); from `s`
/// the next stage is in `s'` with probability `transition[s][s']`; stage 0's state is drawn
/// from `initial`.
/// In files, `{gains, transition, initial}`, validated on reading.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "MarkovFile", into = "MarkovFile")]
pub struct MarkovChannel {
    gains: Vec<f64>,
    transition: Vec<Vec<f64>>,
    initial: Vec<f64>,
    /// Lowest gain of states 1.. (geometric means of neighbours), for [`MarkovChannel::state_of`].
    boundaries: Vec<f64>,
}

/// A Markov channel as written in a file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkovFile {
    gains: Vec<f64>,
    transition: Vec<Vec<f64>>,
    initial: Vec<f64>,
}

impl TryFrom<MarkovFile> for MarkovChannel {
    type Error = MarkovError;
    fn try_from(f: MarkovFile) -> Result<Self, MarkovError> {
        MarkovChannel::new(f.gains, f.transition, f.initial)
    }
}

impl From<MarkovChannel> for MarkovFile {
    fn from(c: MarkovChannel) -> Self {
        MarkovFile { gains: c.gains, transition: c.transition, initial: c.initial }
    }
}

/// Why a Markov channel is unusable, naming the row or field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MarkovError {
    /// Sizes do not match.
    #[error("markov channel: {0}")]
    Shape(String),
    /// A probability row does not sum to 1 or holds a negative / non-finite entry.
    #[error("markov channel: {what} sums to {sum} (must be 1 within 1e-9, entries finite ≥ 0)")]
    Row {
        /// `transition[3]` or `initial`.
        what: String,
        /// Its sum (NaN if an entry is invalid).
        sum: f64,
    },
    /// A gain or parameter is invalid.
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

fn check_row(what: String, row: &[f64]) -> Result<(), MarkovError> {
    let valid = row.iter().all(|p| p.is_finite() && *p >= 0.0);
    let sum: f64 = row.iter().sum();
    if valid && (sum - 1.0).abs() <= ROW_SUM_TOLERANCE {
        Ok(())
    } else {
        Err(MarkovError::Row { what, sum: if valid { sum } else { f64::NAN } })
    }
}

impl MarkovChannel {
    /// A validated channel: gains finite, > 0 and strictly ascending; `transition` square with
    /// rows summing to 1; `initial` a distribution over the states.
    pub fn new(
        gains: Vec<f64>,
        transition: Vec<Vec<f64>>,
        initial: Vec<f64>,
    ) -> Result<MarkovChannel, MarkovError> {
        let s = gains.len();
        if s == 0 {
            return Err(MarkovError::Shape("no states".into()));
        }
        for (i, &g) in gains.iter().enumerate() {
            if !(g.is_finite() && g > 0.0) {
                return Err(MarkovError::Channel(ChannelError::Invalid {
                    field: "gain",
                    value: g,
                    why: "must be a finite number > 0",
                }));
            }
            if i > 0 && g <= gains[i - 1] {
                return Err(MarkovError::Shape(format!(
                    "gains must be strictly ascending: gains[{i}] = {g} ≤ gains[{}]",
                    i - 1
                )));
            }
        }
        if transition.len() != s || initial.len() != s {
            return Err(MarkovError::Shape(format!(
                "{s} states need a {s}×{s} transition matrix and {s} initial probabilities, got \
                 {} rows and {}",
                transition.len(),
                initial.len()
            )));
        }
        for (i, row) in transition.iter().enumerate() {
            if row.len() != s {
                return Err(MarkovError::Shape(format!(
                    "transition[{i}] has {} entries for {s} states",
                    row.len()
                )));
            }
            check_row(format!("transition[{i}]"), row)?;
        }
        check_row("initial".into(), &initial)?;
        let boundaries = gains.windows(2).map(|w| (w[0] * w[1]).sqrt()).collect();
        Ok(MarkovChannel { gains, transition, initial, boundaries })
    }

    /// Quantises a Gauss–Markov Rayleigh process (complex amplitude
    /// `g' = ρ·g + √(1−ρ²)·w`, gain `mean_gain·|g|²`, as [`crate::GaussMarkov`] without its
    /// floor) into `states` equiprobable bins of its stationary law: each state's gain is its
    /// bin's median, the transition probabilities are integrated by quadrature (no sampling),
    /// and stage 0 starts from the stationary law. `rho = 0` gives identical rows:
    /// the i.i.d. channel.
    pub fn gauss_markov(
        rho: f64,
        mean_gain: f64,
        states: usize,
    ) -> Result<MarkovChannel, MarkovError> {
        if !(rho.is_finite() && (0.0..1.0).contains(&rho)) {
            return Err(ChannelError::Invalid {
                field: "rho",
                value: rho,
                why: "must lie in [0, 1)",
            }
            .into());
        }
        if !(mean_gain.is_finite() && mean_gain > 0.0) {
            return Err(ChannelError::Invalid {
                field: "mean_gain",
                value: mean_gain,
                why: "must be a finite number > 0",
            }
            .into());
        }
        if states == 0 {
            return Err(MarkovError::Shape("states must be ≥ 1".into()));
        }
        let s = states as f64;
        // |g|² ~ Exp(1): bin edges at quantiles j/S, representative at the bin's median.
        let quantile = |u: f64| -(1.0 - u).ln();
        let edges: Vec<f64> = (0..=states)
            .map(|j| if j == states { f64::INFINITY } else { quantile(j as f64 / s) })
            .collect();
        let gains: Vec<f64> =
            (0..states).map(|j| mean_gain * quantile((j as f64 + 0.5) / s)).collect();
        let transition = (0..states)
            .map(|i| if rho == 0.0 { vec![1.0 / s; states] } else { quantised_row(rho, &edges, i) })
            .collect();
        MarkovChannel::new(gains, transition, vec![1.0 / s; states])
    }

    /// Fits a chain to a recorded gain trace: `states` quantile bins of the trace (each state
    /// the median gain of its bin), transitions counted between samples `lag` steps apart
    /// (the number of trace samples per layer), a row never left from staying put; stage 0
    /// from the empirical law.
    pub fn from_trace(
        gains: &[f64],
        states: usize,
        lag: usize,
    ) -> Result<MarkovChannel, MarkovError> {
        if states == 0 || lag == 0 {
            return Err(MarkovError::Shape("states and lag must be ≥ 1".into()));
        }
        if gains.len() <= lag {
            return Err(MarkovError::Shape(format!(
                "a trace of {} samples has no transitions at lag {lag}",
                gains.len()
            )));
        }
        if let Some(&g) = gains.iter().find(|g| !(g.is_finite() && **g > 0.0)) {
            return Err(ChannelError::Invalid {
                field: "trace value",
                value: g,
                why: "must be a finite number > 0",
            }
            .into());
        }
        let mut sorted = gains.to_vec();
        sorted.sort_by(f64::total_cmp);
        // Upper edges of the bins (quantiles), deduplicated so every state is populated.
        let n = sorted.len();
        let mut distinct = sorted.clone();
        distinct.dedup();
        // Few distinct values: one state each; otherwise quantile edges (deduplicated, so
        // every state is populated).
        let mut uppers: Vec<f64> = if distinct.len() <= states {
            distinct[1..].to_vec()
        } else {
            (1..states).map(|j| sorted[(j * n / states).min(n - 1)]).collect()
        };
        uppers.dedup();
        uppers.retain(|&u| u > sorted[0]);
        let state_of = |g: f64| uppers.partition_point(|&u| u <= g);
        let count = uppers.len() + 1;
        let mut members: Vec<Vec<f64>> = vec![vec![]; count];
        for &g in &sorted {
            members[state_of(g)].push(g);
        }
        let reps: Vec<f64> = members.iter().map(|m| m[m.len() / 2]).collect();
        let mut counts = vec![vec![0.0; count]; count];
        for w in gains.windows(lag + 1) {
            counts[state_of(w[0])][state_of(w[lag])] += 1.0;
        }
        let transition = counts
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                let total: f64 = row.iter().sum();
                if total == 0.0 {
                    (0..count).map(|j| if i == j { 1.0 } else { 0.0 }).collect()
                } else {
                    row.iter().map(|c| c / total).collect::<Vec<f64>>()
                }
            })
            .collect();
        let initial = members.iter().map(|m| m.len() as f64 / n as f64).collect();
        MarkovChannel::new(reps, transition, initial)
    }

    /// Number of states.
    pub fn states(&self) -> usize {
        self.gains.len()
    }

    /// Gain of each state (ascending).
    pub fn gains(&self) -> &[f64] {
        &self.gains
    }

    /// Row `s` of the transition matrix.
    pub fn row(&self, s: usize) -> &[f64] {
        &self.transition[s]
    }

    /// Stage 0's state distribution.
    pub fn initial(&self) -> &[f64] {
        &self.initial
    }

    /// The state a gain falls in: the one whose gain is nearest in log scale (boundaries at
    /// geometric means of neighbours) — how a device maps an observed rate to a state.
    pub fn state_of(&self, gain: f64) -> usize {
        self.boundaries.partition_point(|&b| b <= gain)
    }

    /// The lowest gain mapped to state `s` (0 for the first).
    pub fn lower_edge(&self, s: usize) -> f64 {
        if s == 0 {
            0.0
        } else {
            self.boundaries.get(s - 1).copied().unwrap_or(f64::INFINITY)
        }
    }

    /// The same states drawn independently at every stage from `initial`: the i.i.d. channel
    /// an i.i.d. rule assumes.
    pub fn marginal(&self) -> Result<FiniteStateChannel, ChannelError> {
        FiniteStateChannel::new(
            self.gains.iter().copied().zip(self.initial.iter().copied()).collect(),
        )
    }

    /// The stationary distribution (power iteration from `initial`, to 1e-13 or 100,000 steps).
    pub fn stationary(&self) -> Vec<f64> {
        let mut p = self.initial.clone();
        for _ in 0..100_000 {
            let next = self.step_distribution(&p);
            let change: f64 = next.iter().zip(&p).map(|(a, b)| (a - b).abs()).sum();
            p = next;
            if change < 1e-13 {
                break;
            }
        }
        p
    }

    /// The state distribution one stage after `p`.
    pub fn step_distribution(&self, p: &[f64]) -> Vec<f64> {
        let mut next = vec![0.0; self.states()];
        for (pi, row) in p.iter().zip(&self.transition) {
            for (n, t) in next.iter_mut().zip(row) {
                *n += pi * t;
            }
        }
        next
    }

    /// Draws from a distribution over states.
    pub fn draw(dist: &[f64], rng: &mut dyn rand::RngCore) -> usize {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        for (j, p) in dist.iter().enumerate() {
            acc += p;
            if u < acc {
                return j;
            }
        }
        dist.len().saturating_sub(1)
    }

    /// Stage 0's state.
    pub fn first(&self, rng: &mut dyn rand::RngCore) -> usize {
        MarkovChannel::draw(&self.initial, rng)
    }

    /// The next stage's state from `s`.
    pub fn next(&self, s: usize, rng: &mut dyn rand::RngCore) -> usize {
        MarkovChannel::draw(&self.transition[s], rng)
    }
}

/// Row `i` of the quantised chain: `P(|g'|² ∈ bin j | |g|² ∈ bin i)` for every `j`, for the
/// AR(1) complex Gaussian with correlation `rho` and `|g|² ~ Exp(1)` (bins between `edges`).
/// Gauss–Legendre over `|g|²` in probability space (2 panels × 16 points, 8 on the unbounded
/// last bin), the conditional law at every edge per node.
fn quantised_row(rho: f64, edges: &[f64], i: usize) -> Vec<f64> {
    let states = edges.len() - 1;
    let (a, b) = (edges[i], edges[i + 1]);
    // In probability space u = 1 − e^{−x}, the law of x is uniform on [ua, ub].
    let (ua, ub) = (1.0 - (-a).exp(), if b.is_finite() { 1.0 - (-b).exp() } else { 1.0 });
    let mut row = vec![0.0; states];
    // The last bin reaches to infinity: more panels where the conditional law moves most.
    let panels = if b.is_finite() { 2 } else { 8 };
    for p in 0..panels {
        let lo = ua + (ub - ua) * p as f64 / panels as f64;
        let hi = ua + (ub - ua) * (p + 1) as f64 / panels as f64;
        for (u, w) in crate::panel_quadrature::gauss_legendre_nodes(lo, hi) {
            let x = -(1.0 - u).ln();
            let cdf: Vec<f64> = edges.iter().map(|&y| conditional_cdf(rho, x, y)).collect();
            for (j, r) in row.iter_mut().enumerate() {
                *r += w * (cdf[j + 1] - cdf[j]).max(0.0);
            }
        }
    }
    let sum: f64 = row.iter().sum();
    row.iter_mut().for_each(|p| *p /= sum);
    row
}

/// `P(|g'|² < y | |g|² = x)`: `g' = ρ·g + s·w`, `s = √(1−ρ²)`, `w ~ CN(0,1)` with
/// `|w|² ~ Exp(1)`. Per angle θ of `w` relative to `g` the event is a quadratic in `|w|`,
/// whose probability is closed-form; the angle is integrated by the double-exponential rule
/// over the arc where the quadratic has roots (its ends have square-root behaviour, which
/// that rule handles), by symmetry on `[θ₀, π]`.
fn conditional_cdf(rho: f64, x: f64, y: f64) -> f64 {
    if y <= 0.0 {
        return 0.0;
    }
    if !y.is_finite() {
        return 1.0;
    }
    let s = (1.0 - rho * rho).sqrt();
    let m = rho * x.sqrt();
    let per_angle = |theta: f64| {
        // s²r² + 2·m·s·cosθ·r + (m² − y) ≤ 0
        let (qa, qb, qc) = (s * s, 2.0 * m * s * theta.cos(), m * m - y);
        let disc = qb * qb - 4.0 * qa * qc;
        if disc <= 0.0 {
            return 0.0;
        }
        let root = disc.sqrt();
        let r1 = ((-qb - root) / (2.0 * qa)).max(0.0);
        let r2 = (-qb + root) / (2.0 * qa);
        if r2 > r1 {
            (-r1 * r1).exp() - (-r2 * r2).exp()
        } else {
            0.0
        }
    };
    // Roots exist for every θ when m² < y; otherwise only where cos θ ≤ −√(1 − y/m²).
    let theta0 = if m * m < y { 0.0 } else { (-(1.0 - y / (m * m)).sqrt()).acos() };
    let arc =
        quadrature::double_exponential::integrate(per_angle, theta0, std::f64::consts::PI, 1e-14);
    (arc.integral / std::f64::consts::PI).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn bad_matrices_are_refused_naming_the_row() {
        let ok = MarkovChannel::new(
            vec![1.0, 2.0],
            vec![vec![0.5, 0.5], vec![0.2, 0.8]],
            vec![0.5, 0.5],
        );
        assert!(ok.is_ok());
        let e = MarkovChannel::new(
            vec![1.0, 2.0],
            vec![vec![0.5, 0.5], vec![0.2, 0.7]],
            vec![0.5, 0.5],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("transition[1]") && e.contains("sums to 0.8"), "{e}");
        let e = MarkovChannel::new(
            vec![1.0, 2.0],
            vec![vec![0.5, 0.5], vec![-0.2, 1.2]],
            vec![0.5, 0.5],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("transition[1]"), "{e}");
        let e = MarkovChannel::new(vec![1.0, 2.0], vec![vec![1.0, 0.0]], vec![0.5, 0.5])
            .unwrap_err()
            .to_string();
        assert!(e.contains("2×2"), "{e}");
        let e = MarkovChannel::new(
            vec![2.0, 1.0],
            vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            vec![0.5, 0.5],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("ascending"), "{e}");
        let e = MarkovChannel::new(
            vec![1.0, 2.0],
            vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            vec![0.5, 0.6],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("initial"), "{e}");
        assert!(MarkovChannel::gauss_markov(1.0, 1.0, 8).is_err());
        // Files are validated on reading.
        let text = serde_json::to_string(&ok.unwrap()).unwrap();
        let back: MarkovChannel = serde_json::from_str(&text).unwrap();
        assert_eq!(back.state_of(1.5), 1);
        assert_eq!(back.state_of(1.4), 0);
        let bad = text.replace("0.8", "0.7");
        let e = serde_json::from_str::<MarkovChannel>(&bad).unwrap_err().to_string();
        assert!(e.contains("transition[1]"), "{e}");
        assert!(MarkovChannel::gauss_markov(0.5, 1.0, 0).is_err());
    }

    /// The quantised chain has the process's stationary law (equiprobable bins) and its
    /// one-step correlation; ρ = 0 is i.i.d.
    #[test]
    fn a_quantised_gauss_markov_chain_keeps_its_law_and_correlation() {
        for rho in [0.0, 0.5, 0.9, 0.99] {
            let ch = MarkovChannel::gauss_markov(rho, 2.0, 32).unwrap();
            let pi = ch.stationary();
            assert!(pi.iter().all(|p| (p - 1.0 / 32.0).abs() < 1e-6), "ρ={rho}: {pi:?}");
            // Exact (unnormalised) rows: the integrated mass is the bin's 1/S before
            // normalisation, so a normalised row is a distribution over the next bin.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
            let n = 200_000;
            let (mut s, mut xs) = (ch.first(&mut rng), Vec::with_capacity(n));
            for _ in 0..n {
                xs.push(ch.gains()[s]);
                s = ch.next(s, &mut rng);
            }
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            let cov =
                xs.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>() / (n - 1) as f64;
            // The power's lag-1 correlation of an AR(1) complex Gaussian is ρ².
            let corr = cov / var;
            assert!((corr - rho * rho).abs() < 0.03, "ρ={rho}: power correlation {corr}");
            if rho == 0.0 {
                assert!((0..32).all(|i| ch.row(i) == ch.row(0)));
            }
        }
    }

    #[test]
    fn a_chain_fitted_to_its_own_samples_recovers_it() {
        let truth = MarkovChannel::new(
            vec![0.5, 1.0, 4.0],
            vec![vec![0.8, 0.15, 0.05], vec![0.1, 0.8, 0.1], vec![0.05, 0.15, 0.8]],
            vec![1.0 / 3.0; 3],
        )
        .unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut s = truth.first(&mut rng);
        let trace: Vec<f64> = (0..300_000)
            .map(|_| {
                let g = truth.gains()[s];
                s = truth.next(s, &mut rng);
                g
            })
            .collect();
        let fit = MarkovChannel::from_trace(&trace, 3, 1).unwrap();
        assert_eq!(fit.gains(), truth.gains());
        for i in 0..3 {
            for j in 0..3 {
                assert!((fit.row(i)[j] - truth.row(i)[j]).abs() < 0.01, "{i}→{j}");
            }
        }
        assert!(MarkovChannel::from_trace(&trace[..1], 3, 1).is_err());
        assert!(MarkovChannel::from_trace(&[1.0, f64::NAN, 2.0], 2, 1).is_err());
    }
}
