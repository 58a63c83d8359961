//! Exact edge resource allocation for fixed (version, partition) choices (seed 001, MCIA):
//! the compute shares `cᵢ` and bandwidth shares `βᵢ` (each summing to at most 1) that
//! minimise `Σ wᵢ·Tᵢ` over the offloading devices, where
//! `Tᵢ = constᵢ + Eᵢ/cᵢ + Dᵢ / (βᵢ·B·log2(1 + sᵢ/βᵢ))`: `Eᵢ` the device's edge time on the
//! whole edge (a share `c` of a time-shared processor takes `E/c`), `Dᵢ` the bits that cross
//! its share of the band, `sᵢ` its SNR over the whole band (noise grows with the bandwidth
//! granted, so the rate is concave in `β`).
//!
//! Compute: Lagrange/KKT in closed form, `cᵢ ∝ √(wᵢ·Eᵢ)`. Bandwidth: each term is convex and
//! decreasing in `βᵢ`, so the optimum equalises the marginal gains `−wᵢ·∂Tᵢ/∂βᵢ = λ`: a
//! bisection per device for `βᵢ(λ)` inside a bisection on `λ` until `Σ βᵢ = 1`. Hand-written:
//! two one-dimensional bisections, no solver crate needed.

/// What an offloading device's weighted latency depends on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OffloadTerms {
    /// Weight `wᵢ ≥ 0` of its latency in the objective (per second).
    pub weight: f64,
    /// Its edge time on the whole edge (s).
    pub edge_s: f64,
    /// Bits sent over its bandwidth share.
    pub bits: f64,
    /// The whole band `B` (Hz).
    pub bandwidth_hz: f64,
    /// Its SNR over the whole band, `P·h / (N0·B)`.
    pub snr: f64,
}

impl OffloadTerms {
    /// Transfer time (s) at bandwidth share `beta` (`inf` at 0).
    pub fn transfer_s(&self, beta: f64) -> f64 {
        if self.bits <= 0.0 {
            return 0.0;
        }
        let rate = beta * self.bandwidth_hz * (1.0 + self.snr / beta).log2();
        if rate > 0.0 {
            self.bits / rate
        } else {
            f64::INFINITY
        }
    }

    /// Weighted share-dependent time `w·(E/c + transfer(β))`.
    pub fn weighted_s(&self, compute_share: f64, beta: f64) -> f64 {
        let edge = if self.edge_s > 0.0 { self.edge_s / compute_share } else { 0.0 };
        self.weight * (edge + self.transfer_s(beta))
    }

    /// `−w·∂transfer/∂β` at `beta`: the weighted time one more unit of band saves.
    fn marginal_gain(&self, beta: f64) -> f64 {
        if self.bits <= 0.0 || self.weight <= 0.0 {
            return 0.0;
        }
        let x = self.snr / beta;
        let log = (1.0 + x).log2();
        let rate = beta * self.bandwidth_hz * log;
        let d_rate = self.bandwidth_hz * (log - x / ((1.0 + x) * std::f64::consts::LN_2));
        self.weight * self.bits * d_rate / (rate * rate)
    }
}

/// Compute shares minimising `Σ wᵢ·Eᵢ/cᵢ` with `Σ cᵢ = 1`: `cᵢ = √(wᵢEᵢ) / Σ √(wⱼEⱼ)`.
/// Devices with no weighted edge work get 0; if none has any, the edge is split equally.
pub fn optimal_compute_shares(terms: &[OffloadTerms]) -> Vec<f64> {
    let roots: Vec<f64> =
        terms.iter().map(|t| (t.weight.max(0.0) * t.edge_s.max(0.0)).sqrt()).collect();
    let sum: f64 = roots.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        roots.iter().map(|r| r / sum).collect()
    } else {
        vec![1.0 / terms.len().max(1) as f64; terms.len()]
    }
}

/// Bandwidth shares minimising `Σ wᵢ·Dᵢ / rateᵢ(βᵢ)` with `Σ βᵢ = 1` (every term convex and
/// decreasing): the shares at which the marginal gains are equal, found by bisection to a
/// relative 1e-12. Devices that send nothing, or whose latency has no weight, get 0; if none
/// sends anything, the band is split equally.
pub fn optimal_bandwidth_shares(terms: &[OffloadTerms]) -> Vec<f64> {
    let active: Vec<bool> =
        terms.iter().map(|t| t.bits > 0.0 && t.weight > 0.0 && t.snr > 0.0).collect();
    if !active.iter().any(|&a| a) {
        return vec![1.0 / terms.len().max(1) as f64; terms.len()];
    }
    // β(λ): the share at which device i's marginal gain falls to λ (the gain decreases in β).
    let share_at = |t: &OffloadTerms, lambda: f64| -> f64 {
        if t.marginal_gain(1.0) >= lambda {
            return 1.0;
        }
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if mid <= 0.0 || t.marginal_gain(mid) > lambda {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo <= 1e-14 * hi {
                break;
            }
        }
        0.5 * (lo + hi)
    };
    let total = |lambda: f64| -> f64 {
        terms.iter().zip(&active).filter(|(_, &a)| a).map(|(t, _)| share_at(t, lambda)).sum()
    };
    // Σβ(λ) decreases in λ: bracket Σ = 1 on a log scale, then bisect.
    let (mut lo, mut hi) = (1e-30f64, 1e30f64);
    for _ in 0..400 {
        let mid = (0.5 * (lo.ln() + hi.ln())).exp();
        if total(mid) > 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi / lo - 1.0 <= 1e-12 {
            break;
        }
    }
    let lambda = hi;
    let mut shares: Vec<f64> = terms
        .iter()
        .zip(&active)
        .map(|(t, &a)| if a { share_at(t, lambda) } else { 0.0 })
        .collect();
    let sum: f64 = shares.iter().sum();
    if sum > 0.0 {
        shares.iter_mut().for_each(|s| *s /= sum);
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> Vec<OffloadTerms> {
        vec![
            OffloadTerms { weight: 1.0, edge_s: 0.004, bits: 8e4, bandwidth_hz: 1e6, snr: 30.0 },
            OffloadTerms { weight: 0.5, edge_s: 0.010, bits: 2e5, bandwidth_hz: 1e6, snr: 3.0 },
            OffloadTerms { weight: 2.0, edge_s: 0.001, bits: 1e4, bandwidth_hz: 1e6, snr: 300.0 },
        ]
    }

    fn objective(t: &[OffloadTerms], c: &[f64], b: &[f64]) -> f64 {
        t.iter().zip(c).zip(b).map(|((t, &c), &b)| t.weighted_s(c, b)).sum()
    }

    /// Every point of a 0.005 grid over the simplex of three shares.
    fn grid() -> Vec<[f64; 3]> {
        let n = 200;
        let mut out = vec![];
        for i in 1..n {
            for j in 1..n - i {
                let (a, b) = (i as f64 / n as f64, j as f64 / n as f64);
                out.push([a, b, 1.0 - a - b]);
            }
        }
        out
    }

    #[test]
    fn the_exact_shares_beat_every_point_of_a_grid() {
        let t = terms();
        let c = optimal_compute_shares(&t);
        let b = optimal_bandwidth_shares(&t);
        for shares in [&c, &b] {
            assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{shares:?}");
            assert!(shares.iter().all(|&s| s > 0.0 && s < 1.0), "{shares:?}");
        }
        let exact = objective(&t, &c, &b);
        let (mut best_c, mut best_b) = (f64::INFINITY, f64::INFINITY);
        for g in grid() {
            best_c = best_c.min(objective(&t, &g, &b));
            best_b = best_b.min(objective(&t, &c, &g));
        }
        // The grid's best is never better, and within a grid step of the optimum.
        assert!(exact <= best_c + 1e-12 && exact <= best_b + 1e-12, "{exact} {best_c} {best_b}");
        assert!(best_c <= exact * 1.001 && best_b <= exact * 1.001, "{exact} {best_c} {best_b}");
        // The closed form's proportionality.
        let ratio = c[0] / c[1];
        assert!((ratio - (1.0f64 * 0.004 / (0.5 * 0.010)).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn idle_devices_get_nothing_and_nobody_offloading_splits_equally() {
        let mut t = terms();
        t[1].bits = 0.0;
        t[1].edge_s = 0.0;
        let b = optimal_bandwidth_shares(&t);
        let c = optimal_compute_shares(&t);
        assert_eq!((b[1], c[1]), (0.0, 0.0));
        assert!((b.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        t.iter_mut().for_each(|t| (t.bits, t.edge_s) = (0.0, 0.0));
        assert_eq!(optimal_bandwidth_shares(&t), vec![1.0 / 3.0; 3]);
        assert_eq!(optimal_compute_shares(&t), vec![1.0 / 3.0; 3]);
        assert!(optimal_bandwidth_shares(&[]).is_empty());
    }

    #[test]
    fn one_device_takes_everything() {
        let t = &terms()[..1];
        assert_eq!(optimal_compute_shares(t), vec![1.0]);
        assert!((optimal_bandwidth_shares(t)[0] - 1.0).abs() < 1e-12);
    }
}
