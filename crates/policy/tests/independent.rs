//! Backward induction, OSLA and the myopic rule on continuous channels (truncated Rayleigh
//! and Rician) against an independent implementation: its own densities (the Rician's Bessel
//! function by its integral form), the double-exponential rule of the `quadrature` crate in
//! place of our graded Gauss–Legendre panels, and every integral split at the rule's
//! threshold. Thresholds and expected costs agree to 1e-9 relative.

use coinfer_policy::stopping::{
    backward_induction, expected_cost, one_stage_look_ahead, CostWeights, Myopic, StoppingProblem,
};
use coinfer_sim::{ChannelModel, Radio, TruncatedRayleigh, TruncatedRician};

fn problem() -> StoppingProblem {
    let bits = [6272.0, 100352.0, 50176.0, 50176.0, 25088.0, 12544.0, 2048.0, 320.0];
    let macs = [0.0, 2e6, 4e6, 4e6, 3e6, 3e6, 1e6, 0.1e6];
    let n = bits.len() - 1;
    StoppingProblem {
        offload_bits: bits.to_vec(),
        edge_time_s: (0..=n).map(|i| macs[i + 1..].iter().sum::<f64>() / 1e10).collect(),
        local_cost: (1..=n).map(|i| 1.25 * macs[i] / 2e8).collect(),
        radio: Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 },
        weights: CostWeights { time: 1.0, energy: 0.5 },
        transport: Default::default(),
    }
}

/// A continuous law on `[h_min, ∞)` by its (unnormalised) density, integrated independently.
struct Reference {
    h_min: f64,
    /// Points that split `[h_min, end]` (where the density bends) and the end.
    breaks: Vec<f64>,
    density: Box<dyn Fn(f64) -> f64>,
    mass: f64,
}

impl Reference {
    fn new(h_min: f64, breaks: Vec<f64>, density: Box<dyn Fn(f64) -> f64>) -> Reference {
        let mut r = Reference { h_min, breaks, density, mass: 1.0 };
        r.mass = r.integral(h_min, &|_| 1.0);
        r
    }

    /// `∫_{max(lo, h_min)}^{end} f·density / mass`, split at every break above `lo`.
    fn integral(&self, lo: f64, f: &dyn Fn(f64) -> f64) -> f64 {
        let start = lo.max(self.h_min);
        let mut points = vec![start];
        points.extend(self.breaks.iter().copied().filter(|&b| b > start));
        points
            .windows(2)
            .map(|w| {
                quadrature::double_exponential::integrate(
                    |h| f(h) * (self.density)(h),
                    w[0],
                    w[1],
                    1e-16,
                )
                .integral
            })
            .sum::<f64>()
            / self.mass
    }
}

/// `I0(x)·e^{−x}` by its integral `(1/π)∫₀^π e^{x(cos θ − 1)} dθ`.
fn i0e(x: f64) -> f64 {
    quadrature::double_exponential::integrate(
        |t: f64| (x * (t.cos() - 1.0)).exp(),
        0.0,
        std::f64::consts::PI,
        1e-16,
    )
    .integral
        / std::f64::consts::PI
}

/// The optimal thresholds and cost, the OSLA and myopic costs, computed on `law`.
fn reference_costs(p: &StoppingProblem, law: &Reference, k: usize) -> (Vec<f64>, f64, f64, f64) {
    let n_layers = p.layers();
    let terminal = |h: f64| if k == n_layers { 0.0 } else { p.offload_cost(k, h) };
    let expect_all = |f: &dyn Fn(f64) -> f64| law.integral(law.h_min, f);
    // Threshold of `Φ_n(h) ≤ g` by bisection on the gain (independent of the affine shortcut).
    let threshold = |n: usize, g: f64| -> f64 {
        if p.offload_cost(n, 1e6) > g {
            return f64::INFINITY;
        }
        if p.offload_cost(n, law.h_min) <= g {
            return 0.0;
        }
        let (mut lo, mut hi) = (law.h_min, 1e6);
        for _ in 0..200 {
            let mid = (lo * hi).sqrt();
            if p.offload_cost(n, mid) <= g {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    };
    let split = |eta: f64, stop: &dyn Fn(f64) -> f64, cont: f64| -> f64 {
        if eta == f64::INFINITY {
            return cont;
        }
        let above = law.integral(eta, stop);
        let p_above = law.integral(eta, &|_| 1.0);
        above + (1.0 - p_above) * cont
    };
    // Optimal.
    let mut thresholds = vec![0.0; k + 1];
    let mut value = expect_all(&terminal);
    for n in (0..k).rev() {
        let g = p.local_cost[n] + value;
        let eta = threshold(n, g);
        thresholds[n] = eta;
        value = split(eta, &|h| p.offload_cost(n, h), g);
    }
    let optimal = value;
    // OSLA: stop iff Φ_n ≤ ψ + E[Φ_{n+1}], played exactly.
    let mut osla = expect_all(&terminal);
    for n in (0..k).rev() {
        let next = if n + 1 == k {
            expect_all(&terminal)
        } else {
            expect_all(&|h| p.offload_cost(n + 1, h))
        };
        let eta = threshold(n, p.local_cost[n] + next);
        osla = split(eta, &|h| p.offload_cost(n, h), p.local_cost[n] + osla);
    }
    // Myopic: stop iff Φ_n(h) ≤ ψ + Φ_{n+1}(h); the boundary by bisection on the difference.
    let mut myopic = expect_all(&terminal);
    for n in (0..k).rev() {
        let next = |h: f64| if n + 1 == k { terminal(h) } else { p.offload_cost(n + 1, h) };
        let diff = |h: f64| p.offload_cost(n, h) - p.local_cost[n] - next(h);
        let eta = if diff(1e6) > 0.0 {
            f64::INFINITY
        } else if diff(law.h_min) <= 0.0 {
            0.0
        } else {
            let (mut lo, mut hi) = (law.h_min, 1e6);
            for _ in 0..200 {
                let mid = (lo * hi).sqrt();
                if diff(mid) <= 0.0 {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            hi
        };
        myopic = split(eta, &|h| p.offload_cost(n, h), p.local_cost[n] + myopic);
    }
    (thresholds, optimal, osla, myopic)
}

fn agree(ours: &dyn ChannelModel, law: &Reference, name: &str) {
    let p = problem();
    for k in [p.layers(), 4, 1] {
        let (eta, optimal, osla, myopic) = reference_costs(&p, law, k);
        let opt = backward_induction(&p, ours, k);
        let rel = |a: f64, b: f64| if a == b { 0.0 } else { (a - b).abs() / b.abs().max(1e-300) };
        // A threshold at or below h_min means "always": compare the rules, not the numbers.
        let clamp = |x: f64| x.max(law.h_min);
        for (n, (a, b)) in opt.rule.thresholds.iter().zip(&eta).enumerate().take(k) {
            assert!(rel(clamp(*a), clamp(*b)) <= 1e-9, "{name} K={k} η_{n}: {a} vs {b}");
        }
        assert!(
            rel(opt.expected_cost, optimal) <= 1e-9,
            "{name} K={k}: {} vs {optimal}",
            opt.expected_cost
        );
        let ours_osla = expected_cost(&p, ours, k, &one_stage_look_ahead(&p, ours, k));
        assert!(rel(ours_osla, osla) <= 1e-9, "{name} K={k} OSLA: {ours_osla} vs {osla}");
        let ours_myopic = expected_cost(&p, ours, k, &Myopic { problem: &p, horizon: k });
        assert!(rel(ours_myopic, myopic) <= 1e-9, "{name} K={k} myopic: {ours_myopic} vs {myopic}");
    }
}

#[test]
fn truncated_rayleigh_agrees_with_an_independent_implementation() {
    for (mean, h_min) in [(0.02, 0.002), (0.01, 0.0001), (0.05, 0.02)] {
        let ours = TruncatedRayleigh::new(mean, h_min).unwrap();
        let end = h_min + 60.0 * mean;
        let breaks: Vec<f64> = [0.01, 0.1, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
            .iter()
            .map(|x| h_min + x * mean)
            .chain(std::iter::once(end))
            .collect();
        let law = Reference::new(h_min, breaks, Box::new(move |h| (-(h - h_min) / mean).exp()));
        agree(&ours, &law, &format!("rayleigh mean={mean} h_min={h_min}"));
    }
}

#[test]
fn truncated_rician_agrees_with_an_independent_implementation() {
    for (k_factor, mean, h_min) in [(3.0, 0.02, 0.002), (0.0, 0.02, 0.002), (10.0, 0.01, 0.001)] {
        let ours = TruncatedRician::new(k_factor, mean, h_min).unwrap();
        let end = h_min + 60.0 * mean;
        let breaks: Vec<f64> = [0.01, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0, 16.0, 32.0]
            .iter()
            .map(|x| h_min + x * mean)
            .chain(std::iter::once(end))
            .collect();
        let density = move |h: f64| {
            let a = (k_factor + 1.0) / mean;
            let x = 2.0 * (k_factor * (k_factor + 1.0) * h / mean).sqrt();
            a * (-k_factor - a * h + x).exp() * i0e(x)
        };
        let law = Reference::new(h_min, breaks, Box::new(density));
        agree(&ours, &law, &format!("rician K={k_factor}"));
    }
}
