//! Wireless channel models: seeded sampling of the channel power gain `h`, and expectations
//! (exact for finite-state channels, by quadrature otherwise), with the Shannon rate
//! `r(h) = B·log2(1 + P·h / (N0·B))`.

use rand::Rng;

/// Errors in channel parameters, naming the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// A parameter is NaN, infinite, negative or zero where it must be positive.
    #[error("channel parameter `{field}` = {value} is invalid: {why}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// Value given.
        value: f64,
        /// Why it is rejected.
        why: &'static str,
    },
    /// The probabilities of a finite-state channel do not sum to 1.
    #[error("channel state probabilities sum to {sum}, not 1")]
    ProbabilitySum {
        /// Their sum.
        sum: f64,
    },
}

fn positive(field: &'static str, value: f64) -> Result<f64, ChannelError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(ChannelError::Invalid { field, value, why: "must be a finite number > 0" })
    }
}

/// Radio parameters of the uplink.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Radio {
    /// Bandwidth `B` (Hz).
    pub bandwidth_hz: f64,
    /// Transmit power `P` (W).
    pub tx_power_w: f64,
    /// Noise power spectral density `N0` (W/Hz).
    pub noise_w_per_hz: f64,
}

impl Radio {
    /// Checks every field is finite and positive.
    pub fn validate(&self) -> Result<(), ChannelError> {
        positive("bandwidth_hz", self.bandwidth_hz)?;
        positive("tx_power_w", self.tx_power_w)?;
        positive("noise_w_per_hz", self.noise_w_per_hz)?;
        Ok(())
    }

    /// Shannon rate (bit/s) at channel power gain `h`.
    pub fn rate_bps(&self, h: f64) -> f64 {
        let snr = self.tx_power_w * h / (self.noise_w_per_hz * self.bandwidth_hz);
        self.bandwidth_hz * (1.0 + snr).log2()
    }

    /// The gain at which the rate equals `rate_bps` (inverse of [`Radio::rate_bps`]).
    pub fn gain_for_rate(&self, rate_bps: f64) -> f64 {
        let nb = self.noise_w_per_hz * self.bandwidth_hz;
        nb / self.tx_power_w * ((rate_bps / self.bandwidth_hz).exp2() - 1.0)
    }
}

/// A random channel power gain, i.i.d. across draws.
pub trait ChannelModel: Send + Sync {
    /// One gain sample (> 0).
    fn sample(&self, rng: &mut dyn rand::RngCore) -> f64;
    /// `E[f(h)]`, exact for finite-state channels, by quadrature otherwise.
    fn expect(&self, f: &dyn Fn(f64) -> f64) -> f64;
    /// `P(h ≥ eta)`.
    fn prob_at_least(&self, eta: f64) -> f64;
    /// `E[f(h); h ≥ eta]` (the integral over the event, not conditional).
    fn expect_above(&self, eta: f64, f: &dyn Fn(f64) -> f64) -> f64 {
        self.expect(&|h| if h >= eta { f(h) } else { 0.0 })
    }
}

/// A finite-state i.i.d. channel: gain `h_j` with probability `p_j`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FiniteStateChannel {
    states: Vec<(f64, f64)>,
    cumulative: Vec<f64>,
}

impl FiniteStateChannel {
    /// A channel from `(gain, probability)` pairs: gains > 0, probabilities ≥ 0 summing to 1
    /// (±1e-9).
    pub fn new(states: Vec<(f64, f64)>) -> Result<Self, ChannelError> {
        if states.is_empty() {
            return Err(ChannelError::ProbabilitySum { sum: 0.0 });
        }
        let mut sum = 0.0;
        let mut cumulative = Vec::with_capacity(states.len());
        for &(h, p) in &states {
            positive("gain", h)?;
            if !(p.is_finite() && p >= 0.0) {
                return Err(ChannelError::Invalid {
                    field: "probability",
                    value: p,
                    why: "must be a finite number ≥ 0",
                });
            }
            sum += p;
            cumulative.push(sum);
        }
        if (sum - 1.0).abs() > 1e-9 {
            return Err(ChannelError::ProbabilitySum { sum });
        }
        Ok(FiniteStateChannel { states, cumulative })
    }

    /// `n` equiprobable states at the quantiles of a Rayleigh-faded gain (exponential with mean
    /// `mean_gain`), i.e. `h_j = −mean·ln(1 − (j + ½)/n)`.
    pub fn rayleigh_quantiles(mean_gain: f64, n: usize) -> Result<Self, ChannelError> {
        positive("mean_gain", mean_gain)?;
        if n == 0 {
            return Err(ChannelError::Invalid {
                field: "levels",
                value: 0.0,
                why: "must be ≥ 1 (states of the quantised channel)",
            });
        }
        let states = (0..n)
            .map(|j| (-mean_gain * (1.0 - (j as f64 + 0.5) / n as f64).ln(), 1.0 / n as f64))
            .collect();
        FiniteStateChannel::new(states)
    }

    /// The `(gain, probability)` states.
    pub fn states(&self) -> &[(f64, f64)] {
        &self.states
    }
}

impl ChannelModel for FiniteStateChannel {
    fn sample(&self, rng: &mut dyn rand::RngCore) -> f64 {
        let u: f64 = rng.random::<f64>() * self.cumulative[self.cumulative.len() - 1];
        let i = self.cumulative.partition_point(|&c| c <= u).min(self.states.len() - 1);
        self.states[i].0
    }

    fn expect(&self, f: &dyn Fn(f64) -> f64) -> f64 {
        self.states.iter().map(|&(h, p)| p * f(h)).sum()
    }

    fn prob_at_least(&self, eta: f64) -> f64 {
        self.states.iter().filter(|s| s.0 >= eta).map(|s| s.1).sum()
    }
}

/// Rayleigh fading truncated below at `h_min`: `h = h_min + X`, `X ~ Exp(mean)` (the
/// exponential is memoryless, so this is exactly the conditional law of an exponential gain
/// given `h ≥ h_min`). Truncation keeps `E[1/r(h)]` finite; `h_min` must be > 0.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TruncatedRayleigh {
    /// Mean of the exponential part of the gain.
    pub mean_gain: f64,
    /// Smallest gain (> 0).
    pub h_min: f64,
}

/// Span of [`TruncatedRayleigh::expect`] in means above `h_min` (the exponential tail beyond
/// holds e^{−50} ≈ 2e-22 of the mass).
const RAYLEIGH_SPAN: f64 = 50.0;

impl TruncatedRayleigh {
    /// A validated channel.
    pub fn new(mean_gain: f64, h_min: f64) -> Result<Self, ChannelError> {
        Ok(TruncatedRayleigh {
            mean_gain: positive("mean_gain", mean_gain)?,
            h_min: positive("h_min", h_min)?,
        })
    }

    fn quantile(&self, u: f64) -> f64 {
        self.h_min - self.mean_gain * (1.0 - u).ln()
    }
}

impl ChannelModel for TruncatedRayleigh {
    fn sample(&self, rng: &mut dyn rand::RngCore) -> f64 {
        self.quantile(rng.random::<f64>())
    }

    fn expect(&self, f: &dyn Fn(f64) -> f64) -> f64 {
        // In x = (h − h_min)/mean. The cost model's integrands are singular where the rate
        // vanishes, at h = 0, i.e. x = −h_min/mean: the first panel is a quarter of that
        // distance (within [1e-3, 1]), and the grading keeps every panel as far from it.
        let (h0, m) = (self.h_min, self.mean_gain);
        let first = (0.25 * h0 / m).clamp(1e-3, 1.0);
        crate::panel_quadrature::Panels::graded(first, RAYLEIGH_SPAN).integrate(
            0.0,
            RAYLEIGH_SPAN,
            &|x| f(h0 + m * x) * (-x).exp(),
        )
    }

    fn prob_at_least(&self, eta: f64) -> f64 {
        if eta <= self.h_min {
            1.0
        } else {
            (-(eta - self.h_min) / self.mean_gain).exp()
        }
    }

    fn expect_above(&self, eta: f64, f: &dyn Fn(f64) -> f64) -> f64 {
        // Above eta the law is again h_min' = max(eta, h_min) plus the same exponential.
        if eta == f64::INFINITY {
            return 0.0;
        }
        let p = self.prob_at_least(eta);
        let tail = TruncatedRayleigh { mean_gain: self.mean_gain, h_min: eta.max(self.h_min) };
        p * tail.expect(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn rejects_bad_parameters_naming_the_field() {
        assert_eq!(
            FiniteStateChannel::new(vec![(1.0, 0.5), (2.0, 0.4)]),
            Err(ChannelError::ProbabilitySum { sum: 0.9 })
        );
        let e = FiniteStateChannel::new(vec![(-1.0, 1.0)]).unwrap_err().to_string();
        assert!(e.contains("gain"), "{e}");
        let e = TruncatedRayleigh::new(1.0, 0.0).unwrap_err().to_string();
        assert!(e.contains("h_min"), "{e}");
        let e = TruncatedRayleigh::new(f64::NAN, 0.1).unwrap_err().to_string();
        assert!(e.contains("mean_gain"), "{e}");
        let r = Radio { bandwidth_hz: 1e6, tx_power_w: f64::NAN, noise_w_per_hz: 1e-20 };
        assert!(r.validate().unwrap_err().to_string().contains("tx_power_w"));
    }

    #[test]
    fn rate_and_its_inverse() {
        let r = Radio { bandwidth_hz: 1e6, tx_power_w: 0.1, noise_w_per_hz: 1e-9 };
        // SNR = 0.1 h / 1e-3 = 100 h; at h = 0.01, SNR = 1 → 1 bit/s/Hz.
        assert!((r.rate_bps(0.01) - 1e6).abs() < 1e-6);
        assert!((r.gain_for_rate(r.rate_bps(0.37)) - 0.37).abs() < 1e-12);
    }

    #[test]
    fn sampling_matches_expectations() {
        let fsc = FiniteStateChannel::new(vec![(0.5, 0.2), (1.0, 0.5), (3.0, 0.3)]).unwrap();
        let tr = TruncatedRayleigh::new(1.0, 0.1).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for (ch, name) in [(&fsc as &dyn ChannelModel, "finite"), (&tr, "rayleigh")] {
            let n = 200_000;
            let mc = (0..n).map(|_| ch.sample(&mut rng)).sum::<f64>() / n as f64;
            let exact = ch.expect(&|h| h);
            assert!((mc - exact).abs() < 0.01 * exact, "{name}: {mc} vs {exact}");
            let p = ch.prob_at_least(0.9);
            let above = ch.expect_above(0.9, &|_| 1.0);
            assert!((p - above).abs() < 1e-3, "{name}: {p} vs {above}");
        }
        assert!((tr.expect(&|h| h) - 1.1).abs() < 1e-3);
        assert!((fsc.expect(&|h| h) - (0.1 + 0.5 + 0.9)).abs() < 1e-12);
    }
}
