//! `coinfer link`: the link emulator as a standalone TCP relay; and the link options shared
//! with `coinfer device run`.

use anyhow::{bail, Context, Result};
use coinfer_runtime::link::{LinkConfig, LossModel, RateSchedule};
use coinfer_runtime::relay::LinkRelay;
use coinfer_sim::{GaussMarkov, Radio};

use crate::args::{LinkArgs, LinkOpts};

impl LinkOpts {
    /// Uplink and downlink configurations, or `None` when no link option was given.
    pub fn configs(&self) -> Result<Option<(LinkConfig, LinkConfig)>> {
        let any = self.rate_mbps.is_some()
            || self.delay_ms > 0.0
            || self.jitter_ms > 0.0
            || self.loss.is_some()
            || self.gilbert_elliott.is_some()
            || self.trace.is_some()
            || self.fading_mbps.is_some();
        if !any {
            return Ok(None);
        }
        let loss = match (&self.loss, &self.gilbert_elliott) {
            (Some(p), _) => LossModel::Bernoulli { p: *p },
            (None, Some(v)) if v.len() == 4 => LossModel::GilbertElliott {
                p_gb: v[0],
                p_bg: v[1],
                loss_good: v[2],
                loss_bad: v[3],
            },
            (None, Some(v)) => bail!("--gilbert-elliott takes 4 numbers, got {}", v.len()),
            (None, None) => LossModel::None,
        };
        let schedule = if let Some(path) = &self.trace {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Some(RateSchedule::from_csv(&text, self.step_ms)?)
        } else if let Some(mbps) = self.fading_mbps {
            if !(mbps.is_finite() && mbps > 0.0) {
                bail!("--fading-mbps must be > 0");
            }
            // Rayleigh fading around 10 dB SNR at the mean gain, where the rate is `mbps`.
            let bandwidth_hz = mbps * 1e6 / 11f64.log2();
            let radio = Radio { bandwidth_hz, tx_power_w: 1.0, noise_w_per_hz: 0.1 / bandwidth_hz };
            let mut process = GaussMarkov::new(self.rho, 1.0, 1e-3)?;
            Some(RateSchedule::from_channel(&mut process, &radio, 10_000, self.step_ms, self.seed)?)
        } else {
            None
        };
        let rate = self.rate_mbps.unwrap_or(0.0) * 1e6;
        let up = LinkConfig {
            rate_bps: rate,
            schedule,
            delay_ms: self.delay_ms,
            jitter_ms: self.jitter_ms,
            loss,
            rto_ms: self.rto_ms,
            seed: self.seed,
            ..LinkConfig::default()
        };
        let down = LinkConfig {
            rate_bps: self.down_mbps.map_or(rate, |m| m * 1e6),
            delay_ms: self.delay_ms,
            jitter_ms: self.jitter_ms,
            seed: self.seed.wrapping_add(1),
            ..LinkConfig::default()
        };
        up.validate()?;
        down.validate()?;
        Ok(Some((up, down)))
    }
}

pub fn run(args: &LinkArgs, json: bool) -> Result<()> {
    let (up, down) = args.link.configs()?.unwrap_or_default();
    let relay = LinkRelay::start(args.listen, args.to, up.clone(), down.clone())?;
    let info = serde_json::json!({"listen": relay.local_addr(), "to": args.to, "uplink": up, "downlink": down});
    if json {
        println!("{info}");
    } else {
        eprintln!(
            "coinfer link: {} → {} (uplink {} Mbit/s, delay {} ms, loss {:.3}); Ctrl-C stops",
            relay.local_addr(),
            args.to,
            if up.rate_bps > 0.0 { format!("{}", up.rate_bps / 1e6) } else { "∞".into() },
            up.delay_ms,
            up.loss.mean_loss()
        );
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(tokio::signal::ctrl_c())?;
    drop(relay);
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn link(args: &[&str]) -> std::result::Result<crate::args::Cli, clap::Error> {
        let mut all = vec!["coinfer", "link"];
        all.extend_from_slice(args);
        crate::args::Cli::try_parse_from(all)
    }

    fn opts(cli: crate::args::Cli) -> LinkOpts {
        match cli.command {
            crate::args::Command::Link(a) => a.link,
            _ => panic!("not a link command"),
        }
    }

    #[test]
    fn gilbert_elliott_takes_the_documented_comma_separated_form() {
        let cli = link(&["--gilbert-elliott", "0.01,0.2,0,0.5"]).expect("documented syntax parses");
        let (up, _) = opts(cli).configs().expect("valid").expect("a link");
        assert_eq!(
            up.loss,
            LossModel::GilbertElliott { p_gb: 0.01, p_bg: 0.2, loss_good: 0.0, loss_bad: 0.5 }
        );
        let short = opts(link(&["--gilbert-elliott", "0.01,0.2"]).expect("parses"));
        assert!(short.configs().unwrap_err().to_string().contains("4 numbers"));
        assert!(link(&["--gilbert-elliott", "0.01,x,0,0.5"]).is_err());
        assert!(link(&["--loss", "0.1", "--gilbert-elliott", "0.01,0.2,0,0.5"]).is_err());
    }
}
