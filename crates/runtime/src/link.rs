//! A user-space link model for TCP streams: rate (fixed or time-varying), one-way delay,
//! jitter, and packet loss (Bernoulli or Gilbert–Elliott).
//!
//! The kernel here has no `netem`, so links are emulated above the socket. Bytes are cut
//! into packets of `mss` bytes; each packet is serialised at the current rate behind the
//! packets before it, then delivered after the propagation delay plus jitter, in order (as
//! TCP delivers them). A lost packet costs what TCP pays for it: it is sent again after a
//! retransmission timeout, and everything behind it waits (head-of-line blocking). No byte
//! is ever dropped or altered — the stream stays a valid TCP stream.

use std::time::Duration;

use coinfer_sim::{ChannelProcess, Radio, TraceChannel, TraceKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, RuntimeError};

/// Packet loss.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LossModel {
    /// No loss.
    #[default]
    None,
    /// Each packet lost independently with probability `p`.
    Bernoulli {
        /// Loss probability in `[0, 1)`.
        p: f64,
    },
    /// Two-state Markov loss (Gilbert–Elliott): per packet the state moves good→bad with
    /// `p_gb` and bad→good with `p_bg`; a packet is lost with `loss_good` or `loss_bad`.
    GilbertElliott {
        /// P(good → bad) per packet.
        p_gb: f64,
        /// P(bad → good) per packet.
        p_bg: f64,
        /// Loss probability in the good state.
        loss_good: f64,
        /// Loss probability in the bad state.
        loss_bad: f64,
    },
}

impl LossModel {
    /// Long-run loss rate.
    pub fn mean_loss(&self) -> f64 {
        match *self {
            LossModel::None => 0.0,
            LossModel::Bernoulli { p } => p,
            LossModel::GilbertElliott { p_gb, p_bg, loss_good, loss_bad } => {
                let bad = if p_gb + p_bg > 0.0 { p_gb / (p_gb + p_bg) } else { 0.0 };
                (1.0 - bad) * loss_good + bad * loss_bad
            }
        }
    }

    fn validate(&self) -> Result<()> {
        let probs: Vec<(&str, f64)> = match *self {
            LossModel::None => vec![],
            LossModel::Bernoulli { p } => vec![("p", p)],
            LossModel::GilbertElliott { p_gb, p_bg, loss_good, loss_bad } => vec![
                ("p_gb", p_gb),
                ("p_bg", p_bg),
                ("loss_good", loss_good),
                ("loss_bad", loss_bad),
            ],
        };
        for (name, v) in probs {
            if !(0.0..1.0).contains(&v) {
                return Err(RuntimeError::Invalid(format!("loss {name} = {v} must be in [0, 1)")));
            }
        }
        Ok(())
    }
}

/// A time-varying rate: `rates_bps[i]` holds during `[i·step, (i+1)·step)`, cyclically.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RateSchedule {
    /// Length of one step (ms), > 0.
    pub step_ms: f64,
    /// Rates (bit/s), each > 0.
    pub rates_bps: Vec<f64>,
}

impl RateSchedule {
    /// `steps` rates of a fading channel: each step draws the next gain of `process` and takes
    /// the Shannon rate of `radio` at it.
    pub fn from_channel(
        process: &mut dyn ChannelProcess,
        radio: &Radio,
        steps: usize,
        step_ms: f64,
        seed: u64,
    ) -> Result<RateSchedule> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rates_bps = (0..steps).map(|_| radio.rate_bps(process.next_gain(&mut rng))).collect();
        let s = RateSchedule { step_ms, rates_bps };
        s.validate()?;
        Ok(s)
    }

    /// A recorded rate trace: CSV whose last column is the rate in bit/s (header optional).
    pub fn from_csv(text: &str, step_ms: f64) -> Result<RateSchedule> {
        // Parsed by the simulator's trace reader (same format as `coinfer stopping` traces);
        // its gains are mapped back to rates through the same radio, exactly.
        let radio = Radio { bandwidth_hz: 1e6, tx_power_w: 1.0, noise_w_per_hz: 1e-6 };
        let trace = TraceChannel::from_csv(text, TraceKind::RateBps, &radio)
            .map_err(|e| RuntimeError::Invalid(format!("rate trace: {e}")))?;
        let s = RateSchedule {
            step_ms,
            rates_bps: trace.gains().iter().map(|&g| radio.rate_bps(g)).collect(),
        };
        s.validate()?;
        Ok(s)
    }

    fn validate(&self) -> Result<()> {
        if !(self.step_ms.is_finite() && self.step_ms > 0.0) || self.rates_bps.is_empty() {
            return Err(RuntimeError::Invalid("rate schedule: step_ms > 0 and ≥ 1 rate".into()));
        }
        if let Some(r) = self.rates_bps.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
            return Err(RuntimeError::Invalid(format!("rate schedule: rate {r} must be > 0")));
        }
        Ok(())
    }

    /// The rate at `t` since the link started.
    pub fn rate_at(&self, t: Duration) -> f64 {
        let i = (t.as_secs_f64() * 1e3 / self.step_ms) as usize % self.rates_bps.len();
        self.rates_bps[i]
    }
}

/// One direction of a link.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkConfig {
    /// Rate (bit/s); 0 = unlimited. Ignored when `schedule` is set.
    pub rate_bps: f64,
    /// Time-varying rate, overriding `rate_bps`.
    pub schedule: Option<RateSchedule>,
    /// One-way propagation delay (ms).
    pub delay_ms: f64,
    /// Jitter (ms): each packet's delay gets a uniform extra in `[0, jitter_ms]`; order is kept.
    pub jitter_ms: f64,
    /// Packet loss.
    pub loss: LossModel,
    /// Retransmission timeout paid per lost packet (ms); Linux's minimum RTO is 200 ms.
    pub rto_ms: f64,
    /// Packet payload size (bytes).
    pub mss: usize,
    /// Most time's worth of data the link queues before the sender is held back (ms).
    pub max_backlog_ms: f64,
    /// Seed of the jitter and loss draws.
    pub seed: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            rate_bps: 0.0,
            schedule: None,
            delay_ms: 0.0,
            jitter_ms: 0.0,
            loss: LossModel::None,
            rto_ms: 200.0,
            mss: 1448,
            max_backlog_ms: 2000.0,
            seed: 0,
        }
    }
}

impl LinkConfig {
    /// A fixed link: `rate_bps` and one-way `delay_ms`.
    pub fn fixed(rate_bps: f64, delay_ms: f64) -> LinkConfig {
        LinkConfig { rate_bps, delay_ms, ..LinkConfig::default() }
    }

    /// Checks every field.
    pub fn validate(&self) -> Result<()> {
        let nonneg = [
            ("rate_bps", self.rate_bps),
            ("delay_ms", self.delay_ms),
            ("jitter_ms", self.jitter_ms),
            ("rto_ms", self.rto_ms),
            ("max_backlog_ms", self.max_backlog_ms),
        ];
        if let Some((name, v)) = nonneg.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            return Err(RuntimeError::Invalid(format!("link {name} = {v} must be ≥ 0")));
        }
        if self.mss == 0 {
            return Err(RuntimeError::Invalid("link mss must be ≥ 1".into()));
        }
        if let Some(s) = &self.schedule {
            s.validate()?;
        }
        self.loss.validate()
    }

    /// The rate at `t` since the link started (`None` = unlimited).
    pub fn rate_at(&self, t: Duration) -> Option<f64> {
        match &self.schedule {
            Some(s) => Some(s.rate_at(t)),
            None if self.rate_bps > 0.0 => Some(self.rate_bps),
            None => None,
        }
    }
}

/// The state of one direction: when the link is free, the last delivery, the loss state.
/// Pure timing arithmetic (times are offsets from the link's start), so it is testable
/// without sockets.
#[derive(Debug)]
pub struct LinkClock {
    config: LinkConfig,
    free_at: Duration,
    last_delivery: Duration,
    bad: bool,
    rng: ChaCha8Rng,
    /// Packets lost (and retransmitted) so far.
    pub lost: u64,
    /// Packets sent so far.
    pub packets: u64,
}

impl LinkClock {
    /// A clock for `config` (validated).
    pub fn new(config: LinkConfig) -> Result<LinkClock> {
        config.validate()?;
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Ok(LinkClock {
            config,
            free_at: Duration::ZERO,
            last_delivery: Duration::ZERO,
            bad: false,
            rng,
            lost: 0,
            packets: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// When the link has sent everything queued so far.
    pub fn free_at(&self) -> Duration {
        self.free_at
    }

    fn lose(&mut self) -> bool {
        match self.config.loss {
            LossModel::None => false,
            LossModel::Bernoulli { p } => self.rng.random::<f64>() < p,
            LossModel::GilbertElliott { p_gb, p_bg, loss_good, loss_bad } => {
                let flip = self.rng.random::<f64>() < if self.bad { p_bg } else { p_gb };
                self.bad ^= flip;
                self.rng.random::<f64>() < if self.bad { loss_bad } else { loss_good }
            }
        }
    }

    fn serialise(&mut self, start: Duration, bytes: usize) -> Duration {
        match self.config.rate_at(start) {
            Some(r) => start + Duration::from_secs_f64(bytes as f64 * 8.0 / r),
            None => start,
        }
    }

    /// A packet of `bytes` handed to the link at `now`: returns when it is delivered.
    pub fn send(&mut self, now: Duration, bytes: usize) -> Duration {
        self.packets += 1;
        let mut start = self.free_at.max(now);
        let mut sent = self.serialise(start, bytes);
        while self.lose() {
            // Lost: the sender notices after the RTO and sends it again.
            self.lost += 1;
            start = sent + Duration::from_secs_f64(self.config.rto_ms / 1e3);
            sent = self.serialise(start, bytes);
        }
        self.free_at = sent;
        let jitter = if self.config.jitter_ms > 0.0 {
            self.rng.random_range(0.0..=self.config.jitter_ms)
        } else {
            0.0
        };
        let arrive = sent + Duration::from_secs_f64((self.config.delay_ms + jitter) / 1e3);
        self.last_delivery = self.last_delivery.max(arrive);
        self.last_delivery
    }

    /// A chunk of bytes handed over at `now`, cut into packets: `(delivery time, bytes)` per
    /// packet, in order.
    pub fn send_chunk(&mut self, now: Duration, len: usize) -> Vec<(Duration, usize)> {
        let mss = self.config.mss;
        (0..len.div_ceil(mss))
            .map(|i| {
                let n = mss.min(len - i * mss);
                (self.send(now, n), n)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(d: Duration) -> f64 {
        d.as_secs_f64() * 1e3
    }

    #[test]
    fn rate_and_delay_add_up_and_packets_queue() {
        let mut c = LinkClock::new(LinkConfig::fixed(1e6, 10.0)).expect("valid");
        // 1250 bytes at 1 Mbit/s = 10 ms, + 10 ms delay.
        assert!((ms(c.send(Duration::ZERO, 1250)) - 20.0).abs() < 1e-6);
        // The second packet waits for the first to be serialised.
        assert!((ms(c.send(Duration::ZERO, 1250)) - 30.0).abs() < 1e-6);
        // A chunk of 6 KB in 1448-byte packets: the last arrives after all bytes crossed.
        let mut c = LinkClock::new(LinkConfig::fixed(8e6, 1.0)).expect("valid");
        let pk = c.send_chunk(Duration::ZERO, 6000);
        assert_eq!(pk.len(), 5);
        assert_eq!(pk.iter().map(|p| p.1).sum::<usize>(), 6000);
        assert!((ms(pk[4].0) - 7.0).abs() < 1e-6, "{:?}", pk[4]);
    }

    #[test]
    fn losses_cost_a_timeout_and_match_their_rate() {
        let cfg = LinkConfig {
            loss: LossModel::Bernoulli { p: 0.1 },
            rto_ms: 50.0,
            seed: 7,
            ..LinkConfig::fixed(0.0, 0.0)
        };
        let mut c = LinkClock::new(cfg).expect("valid");
        let mut t = Duration::ZERO;
        for _ in 0..20_000 {
            t = c.send(t, 100);
        }
        let rate = c.lost as f64 / c.packets as f64;
        // Lost packets retried: the number of losses per packet is geometric, mean p/(1-p).
        assert!((rate - 0.1 / 0.9).abs() < 0.01, "{rate}");
        assert!((ms(t) - 50.0 * c.lost as f64).abs() < 1e-3);
    }

    #[test]
    fn gilbert_elliott_loss_is_bursty_with_the_stationary_mean() {
        let loss =
            LossModel::GilbertElliott { p_gb: 0.01, p_bg: 0.2, loss_good: 0.0, loss_bad: 0.5 };
        let expected = loss.mean_loss();
        assert!((expected - 0.01 / 0.21 * 0.5).abs() < 1e-12);
        let mut c =
            LinkClock::new(LinkConfig { loss, rto_ms: 0.0, seed: 3, ..LinkConfig::default() })
                .expect("valid");
        let mut first_tries_lost = 0;
        for _ in 0..50_000 {
            let before = c.lost;
            c.send(Duration::ZERO, 1);
            first_tries_lost += u64::from(c.lost > before);
        }
        let rate = first_tries_lost as f64 / 50_000.0;
        assert!((rate - expected).abs() < 0.01, "{rate} vs {expected}");
    }

    #[test]
    fn schedules_vary_the_rate_and_bad_configs_are_refused() {
        let s = RateSchedule::from_csv("t,rate\n0,1e6\n1,2e6\n", 100.0).expect("csv");
        assert!((s.rate_at(Duration::from_millis(50)) - 1e6).abs() < 1.0);
        assert!((s.rate_at(Duration::from_millis(150)) - 2e6).abs() < 1.0);
        assert!((s.rate_at(Duration::from_millis(250)) - 1e6).abs() < 1.0, "cyclic");
        assert!(RateSchedule::from_csv("t,rate\n0,-1\n", 100.0).is_err());
        let bad = LinkConfig { loss: LossModel::Bernoulli { p: 1.0 }, ..LinkConfig::default() };
        assert!(LinkClock::new(bad).is_err());
        assert!(LinkClock::new(LinkConfig::fixed(-1.0, 0.0)).is_err());
    }

    #[test]
    fn fading_schedule_comes_from_the_channel_model() {
        let radio = Radio { bandwidth_hz: 1e6, tx_power_w: 0.1, noise_w_per_hz: 1e-12 };
        let mut p = coinfer_sim::GaussMarkov::new(0.9, 1e-5, 1e-9).expect("channel");
        let s = RateSchedule::from_channel(&mut p, &radio, 200, 10.0, 1).expect("schedule");
        let min = s.rates_bps.iter().copied().fold(f64::INFINITY, f64::min);
        let max = s.rates_bps.iter().copied().fold(0.0, f64::max);
        assert!(max > 2.0 * min, "fading varies the rate: {min}..{max}");
    }
}
