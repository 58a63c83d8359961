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

    /// The rate `r(β) = β·B·log2(1 + s/β)` and its first two derivatives in `β` (bit/s).
    fn rate_derivatives(&self, beta: f64) -> (f64, f64, f64) {
        let b = self.bandwidth_hz / std::f64::consts::LN_2;
        let s = self.snr;
        let ln = (s / beta).ln_1p();
        (beta * b * ln, b * (ln - s / (beta + s)), -b * s * s / (beta * (beta + s) * (beta + s)))
    }

    /// `−w·∂transfer/∂β` at `beta`: the weighted time one more unit of band saves.
    fn marginal_gain(&self, beta: f64) -> f64 {
        if self.bits <= 0.0 || self.weight <= 0.0 {
            return 0.0;
        }
        let (r, dr, _) = self.rate_derivatives(beta);
        self.weight * self.bits * dr / (r * r)
    }

    /// `d ln(marginal gain) / d ln β` at `beta` (negative: the gain falls as `β` grows).
    fn gain_elasticity(&self, beta: f64) -> f64 {
        let (r, dr, ddr) = self.rate_derivatives(beta);
        beta * (ddr / dr - 2.0 * dr / r)
    }

    /// The share in `(0, 1]` at which the marginal gain falls to `price` (1 if it is still
    /// above `price` at the whole band): safeguarded Newton steps on `ln β`, bisection when a
    /// step leaves the bracket.
    fn share_at(&self, price: f64) -> f64 {
        self.share_at_from(price, f64::NAN)
    }

    /// [`OffloadTerms::share_at`] starting its search at share `hint` (a previous answer
    /// for a nearby price; NaN: the middle of the bracket in `ln β`).
    fn share_at_from(&self, price: f64, hint: f64) -> f64 {
        if self.marginal_gain(1.0) >= price {
            return 1.0;
        }
        let target = price.ln();
        let (mut lo, mut hi) = (MIN_LN_SHARE, 0.0f64);
        if self.marginal_gain(lo.exp()) <= price {
            return lo.exp();
        }
        let mut x = if hint > 0.0 && hint < 1.0 { hint.ln().max(lo) } else { 0.5 * (lo + hi) };
        for _ in 0..100 {
            let beta = x.exp();
            let f = self.marginal_gain(beta).ln() - target;
            if f > 0.0 {
                lo = x;
            } else {
                hi = x;
            }
            let mut next = x - f / self.gain_elasticity(beta);
            if !(next > lo && next < hi) {
                next = 0.5 * (lo + hi);
            }
            if (next - x).abs() <= 1e-13 || hi - lo <= 1e-13 {
                return next.exp();
            }
            x = next;
        }
        x.exp()
    }

    /// `min over β ∈ (0, 1] of w·transfer(β) + price·β`.
    fn band_dual(&self, price: f64) -> f64 {
        if self.bits <= 0.0 || self.weight <= 0.0 {
            return 0.0;
        }
        let beta = self.share_at(price);
        self.weight * self.transfer_s(beta) + price * beta
    }

    /// `w·E`: its weighted edge work (negative inputs count as none).
    fn weighted_edge(&self) -> f64 {
        self.weight.max(0.0) * self.edge_s.max(0.0)
    }

    /// `min over c ∈ (0, 1] of w·E/c + price·c`.
    fn compute_dual(&self, price: f64) -> f64 {
        let we = self.weighted_edge();
        if we <= 0.0 {
            return 0.0;
        }
        let c = if price > 0.0 { (we / price).sqrt().min(1.0) } else { 1.0 };
        we / c + price * c
    }
}

/// Smallest bandwidth share considered, as `ln β` (a share of 1e-15 of the band).
const MIN_LN_SHARE: f64 = -34.5;

/// Compute shares minimising `Σ wᵢ·Eᵢ/cᵢ` with `Σ cᵢ = 1`: `cᵢ = √(wᵢEᵢ) / Σ √(wⱼEⱼ)`.
/// Devices with no weighted edge work get 0; if none has any, the edge is split equally.
pub fn optimal_compute_shares(terms: &[OffloadTerms]) -> Vec<f64> {
    let roots: Vec<f64> = terms.iter().map(|t| t.weighted_edge().sqrt()).collect();
    let sum: f64 = roots.iter().sum();
    if sum > 0.0 && sum.is_finite() {
        roots.iter().map(|r| r / sum).collect()
    } else {
        vec![1.0 / terms.len().max(1) as f64; terms.len()]
    }
}

/// Bandwidth shares minimising `Σ wᵢ·Dᵢ / rateᵢ(βᵢ)` with `Σ βᵢ = 1` (every term convex and
/// decreasing): the shares at which the marginal gains are equal. Devices that send nothing,
/// or whose latency has no weight, get 0; if none sends anything, the band is split equally.
pub fn optimal_bandwidth_shares(terms: &[OffloadTerms]) -> Vec<f64> {
    bandwidth_allocation(terms).0
}

/// [`optimal_bandwidth_shares`] and the band's price (the common marginal gain). Newton
/// steps on `ln price` (`dβᵢ/dprice = 1/gᵢ'(βᵢ)`), safeguarded by a bracket, to a relative
/// 1e-12 on `Σ βᵢ`.
pub fn bandwidth_allocation(terms: &[OffloadTerms]) -> (Vec<f64>, f64) {
    let is_active = |t: &OffloadTerms| t.bits > 0.0 && t.weight > 0.0 && t.snr > 0.0;
    let active: Vec<&OffloadTerms> = terms.iter().filter(|t| is_active(t)).collect();
    if active.is_empty() {
        return (vec![1.0 / terms.len().max(1) as f64; terms.len()], 0.0);
    }
    // Σβ(e^μ) and its derivative in μ (dβ/dμ = β / (d ln g / d ln β) below the cap), each
    // device's search started from its share at the previous price.
    let mut hints = vec![f64::NAN; active.len()];
    let mut total = |mu: f64| -> (f64, f64) {
        let price = mu.exp();
        let (mut sum, mut slope) = (0.0, 0.0);
        for (t, hint) in active.iter().zip(hints.iter_mut()) {
            let beta = t.share_at_from(price, *hint);
            *hint = beta;
            sum += beta;
            if beta < 1.0 {
                slope += beta / t.gain_elasticity(beta);
            }
        }
        (sum, slope)
    };
    // Start at the mean log price of equal shares; Newton, bracketed once a side is known.
    let equal = 1.0 / active.len() as f64;
    let mut mu = (active.iter().map(|t| t.marginal_gain(equal).ln()).sum::<f64>()
        / active.len() as f64)
        .clamp(-700.0, 700.0);
    let (mut lo, mut hi) = (f64::NEG_INFINITY, f64::INFINITY);
    for _ in 0..300 {
        let (sum, slope) = total(mu);
        if (sum - 1.0).abs() <= 1e-12 {
            break;
        }
        if sum > 1.0 {
            lo = mu;
        } else {
            hi = mu;
        }
        let mut next = if slope < 0.0 { mu - (sum - 1.0) / slope } else { f64::NAN };
        if !(next > lo && next < hi) {
            next = match (lo.is_finite(), hi.is_finite()) {
                (true, true) => 0.5 * (lo + hi),
                (true, false) => lo + 2.0,
                _ => hi - 2.0,
            };
        }
        if (next - mu).abs() <= 1e-14 {
            break;
        }
        mu = next;
    }
    let price = mu.exp();
    let mut shares: Vec<f64> =
        terms.iter().map(|t| if is_active(t) { t.share_at(price) } else { 0.0 }).collect();
    let sum: f64 = shares.iter().sum();
    if sum > 0.0 {
        shares.iter_mut().for_each(|s| *s /= sum);
    }
    (shares, price)
}

/// The prices (Lagrange multipliers, in weighted seconds per whole resource) of the edge's
/// compute and the band at an exact allocation: what one more whole edge or band would save.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct SharePrices {
    /// Price of the edge's compute.
    pub compute: f64,
    /// Price of the band.
    pub band: f64,
}

/// The compute price of [`optimal_compute_shares`]: `(Σ √(wᵢEᵢ))²`.
pub fn compute_price(terms: &[OffloadTerms]) -> f64 {
    let sum: f64 = terms.iter().map(|t| t.weighted_edge().sqrt()).sum();
    sum * sum
}

/// A lower bound on one offloading device's weighted share-dependent time when the
/// resources are priced at `prices`: `min over c, β ∈ (0, 1] of w·(E/c + transfer(β)) +
/// p_c·c + p_b·β`. Summed over the devices less `p_c + p_b`, it bounds the weighted time of
/// any allocation from below (Lagrangian duality), whatever the other devices choose.
pub fn lagrangian_bound(term: &OffloadTerms, prices: SharePrices) -> f64 {
    term.compute_dual(prices.compute) + term.band_dual(prices.band)
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
