//! More channels: truncated Rician fading, time-correlated Gauss–Markov fading, and
//! trace-driven channels; and the [`ChannelProcess`] view (a gain per time step) that
//! simulators and the runtime step through.

use rand::Rng;

use crate::channel::{ChannelError, ChannelModel, FiniteStateChannel, Radio};

fn positive(field: &'static str, value: f64) -> Result<f64, ChannelError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ChannelError::Invalid { field, value, why: "must be a finite number > 0" })
    }
}

/// A standard complex Gaussian sample `CN(0, 1)` as (re, im), each N(0, ½) (Box–Muller).
fn complex_gaussian(rng: &mut dyn rand::RngCore) -> (f64, f64) {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    let r = (-u1.ln()).sqrt(); // radius for variance ½ per component
    let t = std::f64::consts::TAU * u2;
    (r * t.cos(), r * t.sin())
}

/// Exponentially scaled modified Bessel function `I0(x)·e^{−x}`, x ≥ 0 (series below 15,
/// asymptotic expansion above; relative error < 1e-9). Hand-written: one function, no crate
/// in this workspace provides it.
fn bessel_i0e(x: f64) -> f64 {
    if x < 15.0 {
        let q = x * x / 4.0;
        let (mut term, mut sum, mut k) = (1.0, 1.0, 1.0);
        while term > 1e-17 * sum {
            term *= q / (k * k);
            sum += term;
            k += 1.0;
        }
        sum * (-x).exp()
    } else {
        let mut sum = 1.0;
        let mut term = 1.0;
        for k in 1..12 {
            let kk = (2 * k - 1) as f64;
            term *= kk * kk / (8.0 * x * k as f64);
            sum += term;
        }
        sum / (std::f64::consts::TAU * x).sqrt()
    }
}

/// Rician fading with K-factor `k_factor` and mean gain `mean_gain`, truncated below at `h_min`
/// (> 0, to keep `E[1/r]` finite). Sampling by rejection; expectations by graded-panel
/// Gauss–Legendre quadrature of the density on `[h_min, h_min + 60·mean]`, split exactly at
/// any threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct TruncatedRician {
    k_factor: f64,
    mean_gain: f64,
    h_min: f64,
    /// Panels over `h − h_min` (units of gain).
    panels: crate::panel_quadrature::Panels,
    /// The density's mass above `h_min` (it normalises the truncated law).
    mass: f64,
}

/// Span of the Rician quadrature in means above `h_min` (the density there is below e^{−40}).
const RICIAN_SPAN: f64 = 60.0;

impl TruncatedRician {
    /// A validated channel (`k_factor ≥ 0`: 0 is Rayleigh).
    pub fn new(k_factor: f64, mean_gain: f64, h_min: f64) -> Result<Self, ChannelError> {
        if !(k_factor.is_finite() && k_factor >= 0.0) {
            return Err(ChannelError::Invalid {
                field: "k_factor",
                value: k_factor,
                why: "must be a finite number ≥ 0",
            });
        }
        let mean_gain = positive("mean_gain", mean_gain)?;
        let h_min = positive("h_min", h_min)?;
        let panels =
            crate::panel_quadrature::Panels::graded(1e-3 * mean_gain, RICIAN_SPAN * mean_gain);
        let mut channel = TruncatedRician { k_factor, mean_gain, h_min, panels, mass: 1.0 };
        let mass = channel.integral_above(h_min, &|_| 1.0);
        if !(mass.is_finite() && mass > 1e-12) {
            return Err(ChannelError::Invalid {
                field: "h_min",
                value: h_min,
                why: "leaves no probability mass above it",
            });
        }
        channel.mass = mass;
        Ok(channel)
    }

    /// The (untruncated) Rician density of the gain.
    fn pdf(&self, h: f64) -> f64 {
        let (k, m) = (self.k_factor, self.mean_gain);
        let a = (k + 1.0) / m;
        let x = 2.0 * (k * (k + 1.0) * h / m).sqrt();
        a * (-k - a * h + x).exp() * bessel_i0e(x)
    }

    /// `∫_{max(eta, h_min)} f(h)·pdf(h) dh / mass`.
    fn integral_above(&self, eta: f64, f: &dyn Fn(f64) -> f64) -> f64 {
        let h0 = self.h_min;
        let lo = (eta - h0).max(0.0);
        self.panels.integrate(lo, f64::INFINITY, &|x| f(h0 + x) * self.pdf(h0 + x)) / self.mass
    }

    fn draw(&self, rng: &mut dyn rand::RngCore) -> f64 {
        let los = (self.k_factor / (self.k_factor + 1.0)).sqrt();
        let sc = (1.0 / (self.k_factor + 1.0)).sqrt();
        let (re, im) = complex_gaussian(rng);
        let (a, b) = (los + sc * re, sc * im);
        self.mean_gain * (a * a + b * b)
    }
}

impl ChannelModel for TruncatedRician {
    fn sample(&self, rng: &mut dyn rand::RngCore) -> f64 {
        for _ in 0..10_000 {
            let h = self.draw(rng);
            if h >= self.h_min {
                return h;
            }
        }
        // Astronomically unlikely once `new` accepted h_min (mass > 1e-12).
        self.h_min
    }

    fn expect(&self, f: &dyn Fn(f64) -> f64) -> f64 {
        self.integral_above(self.h_min, f)
    }

    fn prob_at_least(&self, eta: f64) -> f64 {
        if eta == f64::INFINITY {
            return 0.0;
        }
        self.integral_above(eta, &|_| 1.0).min(1.0)
    }

    fn expect_above(&self, eta: f64, f: &dyn Fn(f64) -> f64) -> f64 {
        if eta == f64::INFINITY {
            return 0.0;
        }
        self.integral_above(eta, f)
    }
}

/// A channel seen as a process: one gain per time step (block), possibly correlated in time.
pub trait ChannelProcess: Send {
    /// The gain of the next block.
    fn next_gain(&mut self, rng: &mut dyn rand::RngCore) -> f64;
}

/// Independent draws from a [`ChannelModel`].
pub struct Iid<C>(pub C);

impl<C: ChannelModel> ChannelProcess for Iid<C> {
    fn next_gain(&mut self, rng: &mut dyn rand::RngCore) -> f64 {
        self.0.sample(rng)
    }
}

/// Time-correlated Rayleigh fading: complex amplitude `g_t = ρ·g_{t−1} + √(1−ρ²)·w_t`,
/// `w_t ~ CN(0, 1)`, gain `max(mean·|g_t|², h_min)`. Its marginal is the (clipped)
/// exponential law, so [`ChannelModel::expect`] is exact in distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct GaussMarkov {
    /// Correlation between consecutive blocks, in `[0, 1)` (Jakes: `J0(2π·f_D·T)`).
    pub rho: f64,
    /// Mean gain.
    pub mean_gain: f64,
    /// Smallest gain returned.
    pub h_min: f64,
    state: Option<(f64, f64)>,
}

impl GaussMarkov {
    /// A validated process.
    pub fn new(rho: f64, mean_gain: f64, h_min: f64) -> Result<Self, ChannelError> {
        if !(rho.is_finite() && (0.0..1.0).contains(&rho)) {
            return Err(ChannelError::Invalid {
                field: "rho",
                value: rho,
                why: "must lie in [0, 1)",
            });
        }
        Ok(GaussMarkov {
            rho,
            mean_gain: positive("mean_gain", mean_gain)?,
            h_min: positive("h_min", h_min)?,
            state: None,
        })
    }
}

impl ChannelProcess for GaussMarkov {
    fn next_gain(&mut self, rng: &mut dyn rand::RngCore) -> f64 {
        let w = complex_gaussian(rng);
        let g = match self.state {
            None => w,
            Some((re, im)) => {
                let s = (1.0 - self.rho * self.rho).sqrt();
                (self.rho * re + s * w.0, self.rho * im + s * w.1)
            }
        };
        self.state = Some(g);
        (self.mean_gain * (g.0 * g.0 + g.1 * g.1)).max(self.h_min)
    }
}

impl ChannelModel for GaussMarkov {
    fn sample(&self, rng: &mut dyn rand::RngCore) -> f64 {
        let (re, im) = complex_gaussian(rng);
        (self.mean_gain * (re * re + im * im)).max(self.h_min)
    }

    fn expect(&self, f: &dyn Fn(f64) -> f64) -> f64 {
        let p_clip = 1.0 - (-self.h_min / self.mean_gain).exp();
        let above =
            crate::channel::TruncatedRayleigh { mean_gain: self.mean_gain, h_min: self.h_min };
        p_clip * f(self.h_min) + (1.0 - p_clip) * above.expect(f)
    }

    fn prob_at_least(&self, eta: f64) -> f64 {
        if eta <= self.h_min {
            1.0
        } else {
            (-eta / self.mean_gain).exp()
        }
    }

    fn expect_above(&self, eta: f64, f: &dyn Fn(f64) -> f64) -> f64 {
        if eta <= self.h_min {
            return self.expect(f);
        }
        if eta == f64::INFINITY {
            return 0.0;
        }
        // Above eta (> h_min) the gain is eta plus the same exponential.
        let tail = crate::channel::TruncatedRayleigh { mean_gain: self.mean_gain, h_min: eta };
        self.prob_at_least(eta) * tail.expect(f)
    }
}

/// A recorded channel: gains (or rates converted to gains) per time step, replayed cyclically.
/// As a [`ChannelModel`] it is the empirical distribution of the trace (exact expectations).
#[derive(Debug, Clone, PartialEq)]
pub struct TraceChannel {
    gains: Vec<f64>,
    empirical: FiniteStateChannel,
    position: usize,
}

/// What a trace's numbers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TraceKind {
    /// Channel power gains.
    Gain,
    /// Achievable rates (bit/s), converted to gains through the radio's Shannon formula.
    RateBps,
}

impl TraceChannel {
    /// A trace from values (all finite and > 0).
    pub fn new(values: &[f64], kind: TraceKind, radio: &Radio) -> Result<Self, ChannelError> {
        if values.is_empty() {
            return Err(ChannelError::ProbabilitySum { sum: 0.0 });
        }
        let gains: Vec<f64> = values
            .iter()
            .map(|&v| {
                positive("trace value", v).map(|v| match kind {
                    TraceKind::Gain => v,
                    TraceKind::RateBps => radio.gain_for_rate(v),
                })
            })
            .collect::<Result<_, _>>()?;
        let w = 1.0 / gains.len() as f64;
        let mut states: Vec<(f64, f64)> = gains.iter().map(|&g| (g, w)).collect();
        // Renormalise the rounding of 1/n so the probabilities sum to 1 exactly enough.
        let sum: f64 = states.iter().map(|s| s.1).sum();
        states.iter_mut().for_each(|s| s.1 /= sum);
        Ok(TraceChannel { empirical: FiniteStateChannel::new(states)?, gains, position: 0 })
    }

    /// Parses a CSV whose last column holds the values (a header line is skipped; `#` comments
    /// and blank lines are ignored). Errors name the line.
    pub fn from_csv(text: &str, kind: TraceKind, radio: &Radio) -> Result<Self, TraceError> {
        let mut values = Vec::new();
        let mut header_seen = false;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let field = line.rsplit(',').next().unwrap_or("").trim();
            match field.parse::<f64>() {
                Ok(v) => values.push(v),
                Err(_) if values.is_empty() && !header_seen => header_seen = true,
                Err(_) => return Err(TraceError::Parse { line: i + 1, text: field.to_string() }),
            }
        }
        TraceChannel::new(&values, kind, radio).map_err(TraceError::Channel)
    }

    /// The gains in time order.
    pub fn gains(&self) -> &[f64] {
        &self.gains
    }
}

/// Errors reading a trace.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// A value is not a number.
    #[error("trace line {line}: `{text}` is not a number")]
    Parse {
        /// 1-based line.
        line: usize,
        /// The field.
        text: String,
    },
    /// A value is invalid.
    #[error(transparent)]
    Channel(ChannelError),
}

impl ChannelProcess for TraceChannel {
    fn next_gain(&mut self, _rng: &mut dyn rand::RngCore) -> f64 {
        let g = self.gains[self.position];
        self.position = (self.position + 1) % self.gains.len();
        g
    }
}

impl ChannelModel for TraceChannel {
    fn sample(&self, rng: &mut dyn rand::RngCore) -> f64 {
        self.empirical.sample(rng)
    }
    fn expect(&self, f: &dyn Fn(f64) -> f64) -> f64 {
        self.empirical.expect(f)
    }
    fn prob_at_least(&self, eta: f64) -> f64 {
        self.empirical.prob_at_least(eta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn bessel_matches_known_values() {
        // I0(1) = 1.2660658777520082, I0(20) = 4.355828255955353e7.
        assert!((bessel_i0e(1.0) * 1f64.exp() - 1.2660658777520082).abs() < 1e-12);
        assert!((bessel_i0e(20.0) * 20f64.exp() / 4.355828255955353e7 - 1.0).abs() < 1e-8);
        assert!((bessel_i0e(14.9) - bessel_i0e(15.1)).abs() < 1e-3);
    }

    #[test]
    fn rician_sampling_agrees_with_quadrature() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        for k in [0.0, 3.0, 10.0] {
            let ch = TruncatedRician::new(k, 1.0, 0.05).unwrap();
            let n = 200_000;
            let mc = (0..n).map(|_| ch.sample(&mut rng)).sum::<f64>() / n as f64;
            let q = ch.expect(&|h| h);
            assert!((mc - q).abs() < 0.01 * q, "K={k}: MC {mc} vs quadrature {q}");
            let p = ch.prob_at_least(1.0);
            let mc_p = (0..n).filter(|_| ch.sample(&mut rng) >= 1.0).count() as f64 / n as f64;
            assert!((mc_p - p).abs() < 0.01, "K={k}: {mc_p} vs {p}");
        }
        assert!(TruncatedRician::new(-1.0, 1.0, 0.1).unwrap_err().to_string().contains("k_factor"));
    }

    #[test]
    fn gauss_markov_is_correlated_with_the_right_marginal() {
        let mut gm = GaussMarkov::new(0.9, 2.0, 1e-3).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let xs: Vec<f64> = (0..200_000).map(|_| gm.next_gain(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((mean - gm.expect(&|h| h)).abs() < 0.05, "{mean}");
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
        let cov = xs.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>()
            / (xs.len() - 1) as f64;
        // For |g|² of a Gauss–Markov amplitude the lag-1 correlation of the gain is ρ².
        assert!((cov / var - 0.81).abs() < 0.02, "{}", cov / var);
        assert!(GaussMarkov::new(1.0, 1.0, 0.1).unwrap_err().to_string().contains("rho"));
    }

    #[test]
    fn traces_replay_and_convert_rates() {
        let radio = Radio { bandwidth_hz: 1e6, tx_power_w: 0.1, noise_w_per_hz: 1e-9 };
        let mut t = TraceChannel::from_csv(
            "time,rate\n0,1e6\n1,2e6\n# gap\n2,3e6\n",
            TraceKind::RateBps,
            &radio,
        )
        .unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let rates: Vec<f64> = (0..4).map(|_| radio.rate_bps(t.next_gain(&mut rng))).collect();
        for (r, e) in rates.iter().zip([1e6, 2e6, 3e6, 1e6]) {
            assert!((r - e).abs() < 1e-3, "{rates:?}");
        }
        assert!((t.prob_at_least(radio.gain_for_rate(1.5e6)) - 2.0 / 3.0).abs() < 1e-12);
        let err =
            TraceChannel::from_csv("rate\n1e6\nabc\n", TraceKind::RateBps, &radio).unwrap_err();
        assert_eq!(err.to_string(), "trace line 3: `abc` is not a number");
        let err = TraceChannel::from_csv("a\nb\n", TraceKind::Gain, &radio).unwrap_err();
        assert_eq!(err.to_string(), "trace line 2: `b` is not a number");
        assert!(TraceChannel::from_csv("g\n-1\n", TraceKind::Gain, &radio).is_err());
    }
}
