//! `coinfer automl`: seed 000's search (DDPG over the head's channel groups, the feature's
//! width and bits, per candidate cut), the winner fine-tuned and deployed; `coinfer automl
//! proxies`: which cheap accuracy signal an AutoML search can trust.

use std::io::Write;

use anyhow::{bail, Context, Result};
use coinfer_data::DatasetName;
use coinfer_pipeline::automl::{
    automl_search, bottleneck_model, check_deployment, finish, profile_compute, search_link,
    AutomlJob, AutomlReport, Candidates, DdpgConfig, Deployed,
};
use coinfer_pipeline::automl_cache::read_jsonl;
use coinfer_pipeline::automl_compare::{self, CompareConfig, Comparison, MethodResult};
use coinfer_pipeline::automl_proxies::{proxy_study, ProxyRow, ProxyStudy, ProxyStudyConfig};
use coinfer_sim::{Budget, Reward};
use coinfer_train::FitConfig;

use crate::args::{AutomlArgs, AutomlWhat, CompareArgs, ProxiesArgs, SearchArgs, SweepArgs};
use crate::output::{print_json, table, write_json};
use coinfer_report::{write_svg, Series};

pub fn run(args: Box<AutomlArgs>, json: bool) -> Result<()> {
    match args.what {
        Some(AutomlWhat::Proxies(args)) => proxies(&args, json),
        Some(AutomlWhat::Compare(args)) => compare(&args, json),
        Some(AutomlWhat::Sweep(args)) => sweep(&args, json),
        None => search(&args.search, json),
    }
}

fn job<'a>(
    args: &'a SearchArgs,
    graph: &'a coinfer_graph::Graph,
    code: Option<String>,
    cache_dir: &'a std::path::Path,
) -> Result<AutomlJob<'a>> {
    let candidates = if let Some(code) = code {
        Candidates::Cuts(vec![Some(code)])
    } else if args.cut.is_empty() {
        Candidates::Best(args.top_cuts)
    } else {
        Candidates::Cuts(args.cut.iter().map(|c| (c != "device").then(|| c.clone())).collect())
    };
    let budget = match (args.budget_ms, args.budget_mmacs) {
        (Some(ms), _) => Some(Budget::LatencyS(ms / 1e3)),
        (_, Some(m)) => Some(Budget::DeviceMacs(m * 1e6)),
        _ => None,
    };
    let reward = match args.reward.as_str() {
        "accuracy" => Reward::AccuracyConstrained,
        "linear" => Reward::Linear { weight: args.latency_weight },
        "log-latency" => Reward::AccuracyLogLatency,
        _ => Reward::LatencyWithinDrop { max_drop: args.max_drop_pt / 100.0 },
    };
    Ok(AutomlJob {
        graph,
        candidates,
        device: profile_compute(&args.device)?,
        edge: profile_compute(&args.edge)?,
        link: search_link(args.rate_mbps, args.rtt_ms),
        budget,
        reward,
        episodes: args.episodes,
        ddpg: DdpgConfig { warmup_episodes: args.warmup, seed: args.seed, ..DdpgConfig::default() },
        multiple_of: args.multiple_of,
        min_keep: args.min_keep,
        bits: args.bits.clone(),
        data: DatasetName::FashionMnist,
        val_images: args.val_images,
        recalibration_images: args.recalibration_images,
        engine: args.engine.name(),
        cache_dir,
    })
}

/// What every AutoML command loads once: the searched model (the given one, or the
/// bottleneck's with its code tensor), the model the uncompressed baselines run (loaded
/// separately only with a bottleneck) and the cache folder.
struct Loaded {
    graph: coinfer_graph::Graph,
    code: Option<String>,
    bottleneck_baseline: Option<coinfer_graph::Graph>,
    cache: std::path::PathBuf,
}

impl Loaded {
    fn new(s: &SearchArgs) -> Result<Loaded> {
        let cache = s.cache.clone().unwrap_or_else(|| s.out.join("cache"));
        let model = || super::load_graph_at(&s.model, &s.shape);
        Ok(match &s.bottleneck {
            Some(dir) => {
                let (graph, code) = bottleneck_model(dir)?;
                Loaded { graph, code: Some(code), bottleneck_baseline: Some(model()?), cache }
            }
            None => Loaded { graph: model()?, code: None, bottleneck_baseline: None, cache },
        })
    }

    /// For `compare` and `sweep`, which run on one search space.
    fn one_space(s: &SearchArgs, what: &str) -> Result<Loaded> {
        if s.bottleneck.is_none() && s.cut.len() != 1 {
            bail!("a {what} is on one search space: give one --cut or a --bottleneck");
        }
        Loaded::new(s)
    }

    fn baseline(&self) -> &coinfer_graph::Graph {
        self.bottleneck_baseline.as_ref().unwrap_or(&self.graph)
    }

    fn job<'a>(&'a self, args: &'a SearchArgs) -> Result<AutomlJob<'a>> {
        job(args, &self.graph, self.code.clone(), &self.cache)
    }

    fn config<'a>(&'a self, args: &'a CompareArgs) -> Result<CompareConfig<'a>> {
        Ok(CompareConfig {
            job: self.job(&args.search)?,
            baseline_graph: self.baseline(),
            seeds: args.seeds.clone(),
            exhaustive_limit: args.exhaustive_limit,
        })
    }
}

fn compare(args: &CompareArgs, json: bool) -> Result<()> {
    let s = &args.search;
    let loaded = Loaded::one_space(s, "comparison")?;
    let config = loaded.config(args)?;
    let c = automl_compare::compare(&config, &mut super::Bar::new(json))?;
    write_json(&s.out.join("compare.json"), &c)?;
    plot_curves(&c, &s.out.join("compare.svg"))?;
    if json {
        return print_json(&c);
    }
    let row = |m: &MethodResult| {
        vec![
            m.note.as_ref().map_or(m.method.clone(), |n| format!("{} ({n})", m.method)),
            m.seed.map_or("".into(), |s| s.to_string()),
            m.config.as_ref().map_or("".into(), |c| format!("{:?} {}b", c.kept, c.bits)),
            format!("{:.2}", 100.0 * m.accuracy),
            m.bytes.map_or("—".into(), |b| format!("{b:.1}")),
            format!("{:.3}", 1e3 * m.latency_s),
            format!("{:.4}", m.reward),
            m.evaluations.to_string(),
            m.evaluations_to_optimum.map_or("—".into(), |e| e.to_string()),
        ]
    };
    let rows = c.oracle.iter().chain(&c.methods).map(row).collect();
    let headers =
        ["method", "seed", "config", "acc %", "bytes", "ms", "reward", "evals", "evals to opt."];
    println!("{}", table(&headers, rows));
    println!(
        "space of {:.0} configurations; accuracy = adaptive-BN proxy on {} validation images; \
         wrote {out}/compare.json, {out}/compare.svg",
        c.space_size,
        s.val_images,
        out = s.out.display()
    );
    Ok(())
}

/// Best reward against distinct evaluations, mean over seeds, with the oracle's optimum.
fn plot_curves(c: &Comparison, path: &std::path::Path) -> Result<()> {
    let mean_curve = |method: &str| -> Vec<(f64, f64)> {
        let curves: Vec<&Vec<f64>> =
            c.methods.iter().filter(|m| m.method == method).map(|m| &m.curve).collect();
        let n = curves.iter().map(|c| c.len()).max().unwrap_or(0);
        (0..n)
            .map(|i| {
                let at = |c: &Vec<f64>| c.get(i).or(c.last()).copied().unwrap_or(f64::NAN);
                let mean = curves.iter().map(|c| at(c)).sum::<f64>() / curves.len() as f64;
                ((i + 1) as f64, mean)
            })
            .collect()
    };
    let seeds = c.methods.iter().filter(|m| m.method == "ddpg").count();
    let mut series = vec![
        Series { label: format!("DDPG (mean of {seeds} seeds)"), points: mean_curve("ddpg") },
        Series { label: format!("random (mean of {seeds} seeds)"), points: mean_curve("random") },
    ];
    if let Some(o) = &c.oracle {
        let n = series.iter().flat_map(|s| s.points.last()).map(|p| p.0).fold(1.0, f64::max);
        series.push(Series {
            label: "exhaustive optimum".into(),
            points: vec![(1.0, o.reward), (n, o.reward)],
        });
    }
    write_svg(
        path,
        &[(
            "Seed 000 search: best reward so far against distinct configurations evaluated",
            "distinct configurations evaluated (adaptive-BN proxy)",
            "best reward",
            series,
            false,
        )],
    )?;
    Ok(())
}

fn sweep(args: &SweepArgs, json: bool) -> Result<()> {
    let s = &args.compare.search;
    let loaded = Loaded::one_space(s, "sweep")?;
    let config = loaded.config(&args.compare)?;
    let devices = args
        .devices
        .iter()
        .map(|d| Ok((d.clone(), profile_compute(d)?)))
        .collect::<Result<Vec<_>>>()?;
    let points =
        automl_compare::sweep(&config, &devices, &args.rates_mbps, &mut super::Bar::new(json))?;
    write_json(&s.out.join("sweep.json"), &points)?;
    plot_sweep(&points, &args.devices, &s.out.join("sweep.svg"))?;
    let mut rows = vec![];
    for p in &points {
        for (method, m) in per_method(&p.comparison) {
            rows.push(vec![
                p.device.clone(),
                format!("{}", p.rate_mbps),
                method,
                format!("{:.2}", 100.0 * m.accuracy),
                format!("{:.3}", 1e3 * m.latency_s),
                m.bytes.map_or("—".into(), |b| format!("{b:.1}")),
                format!("{:.4}", m.reward),
            ]);
        }
    }
    let headers = ["device", "Mbit/s", "method", "acc %", "ms", "bytes", "reward"];
    let t = coinfer_report::Table::new(
        "Seed 000 across devices and link rates: every method's proxy accuracy (validation), \
         predicted latency, bytes per inference and reward (searches: mean over seeds)",
        &headers,
        rows,
    );
    super::write_page(
        &s.out,
        "coinfer automl sweep",
        std::slice::from_ref(&t),
        &[("sweep.svg", "Latency and accuracy per method across link rates and devices.")],
    )?;
    if json {
        return print_json(&points);
    }
    println!("{}", t.to_text());
    println!("wrote {0}/index.html (the report), {0}/sweep.json, {0}/sweep.svg", s.out.display());
    Ok(())
}

/// Each method once (searches: the mean over seeds of accuracy, latency, bytes and reward).
fn per_method(c: &Comparison) -> Vec<(String, MethodResult)> {
    let mut out: Vec<(String, MethodResult)> = vec![];
    for m in c.oracle.iter().chain(&c.methods) {
        let runs: Vec<&MethodResult> =
            c.methods.iter().filter(|x| x.method == m.method && x.seed.is_some()).collect();
        if out.iter().any(|(name, _)| name.starts_with(&m.method)) {
            continue;
        }
        if runs.len() > 1 {
            let n = runs.len() as f64;
            let mean =
                |f: &dyn Fn(&MethodResult) -> f64| runs.iter().map(|r| f(r)).sum::<f64>() / n;
            let mut avg = m.clone();
            avg.accuracy = mean(&|r| r.accuracy);
            avg.latency_s = mean(&|r| r.latency_s);
            avg.reward = mean(&|r| r.reward);
            avg.bytes = m.bytes.map(|_| mean(&|r| r.bytes.unwrap_or(0.0)));
            let mut notes: Vec<&str> = runs.iter().filter_map(|r| r.note.as_deref()).collect();
            notes.dedup();
            let notes =
                if notes.is_empty() { String::new() } else { format!(": {}", notes.join(" / ")) };
            out.push((format!("{} (mean of {}{notes})", m.method, runs.len()), avg));
        } else {
            out.push((m.method.clone(), m.clone()));
        }
    }
    out
}

/// Per device: accuracy against latency (each method's points across the rates) and latency
/// against the rate.
fn plot_sweep(
    points: &[automl_compare::SweepPoint],
    devices: &[String],
    path: &std::path::Path,
) -> Result<()> {
    let shown = [
        "ddpg",
        "exhaustive",
        "uniform + 8-bit",
        "three-step",
        "neurosurgeon",
        "edge-only",
        "automl plan",
    ];
    let mut titles = vec![];
    for d in devices {
        titles.push(format!("{d}: accuracy against end-to-end latency, one point per link rate"));
        titles.push(format!("{d}: end-to-end latency against the link rate"));
    }
    let mut panels = vec![];
    for (i, d) in devices.iter().enumerate() {
        let mut front = vec![];
        let mut by_rate = vec![];
        for method in shown {
            let mut a = vec![];
            let mut b = vec![];
            for p in points.iter().filter(|p| &p.device == d) {
                if let Some((_, m)) =
                    per_method(&p.comparison).into_iter().find(|(n, _)| n.starts_with(method))
                {
                    a.push(((1e3 * m.latency_s).log10(), 100.0 * m.accuracy));
                    b.push((p.rate_mbps.log10(), 1e3 * m.latency_s));
                }
            }
            // Joined in order of latency (not of rate): each method's accuracy–latency trace.
            a.sort_by(|p, q| p.0.total_cmp(&q.0));
            front.push(Series { label: method.into(), points: a });
            by_rate.push(Series { label: method.into(), points: b });
        }
        panels.push((
            titles[2 * i].as_str(),
            "log10(end-to-end latency, ms)",
            "accuracy % (adaptive-BN proxy)",
            front,
            false,
        ));
        panels.push((titles[2 * i + 1].as_str(), "log10(link rate, Mbit/s)", "ms", by_rate, true));
    }
    write_svg(path, &panels)?;
    Ok(())
}

fn search(args: &SearchArgs, json: bool) -> Result<()> {
    let loaded = Loaded::new(args)?;
    let job = loaded.job(args)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let log_path = args.out.join("episodes.jsonl");
    let mut log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut bar = super::Bar::new(json);
    let best_path = args.out.join("best.json");
    let report = automl_search(&job, &mut bar, |cut, episode, best| {
        let line = serde_json::json!({ "cut": cut.map(|c| c.index), "episode": episode });
        // The log and the checkpoint are for the record (an interrupted search reruns from
        // the evaluation cache); a full disk must not stop the search.
        let _ = writeln!(log, "{line}");
        if episode.reward >= episode.best {
            let cut = cut.map(|c| c.tensor.as_str());
            let _ = write_json(&best_path, &serde_json::json!({ "cut": cut, "best": best }));
        }
    })?;
    let fit = FitConfig { epochs: args.finetune_epochs, ..FitConfig::default() };
    let done = finish(
        &job,
        loaded.baseline(),
        &report,
        &fit,
        args.test_images,
        args.force_split,
        &args.out,
        "automl",
        &mut bar,
    )?;
    let runtime = match args.runtime_images {
        0 => None,
        n => Some(check_deployment(
            &args.out,
            &[args.rate_mbps],
            args.rtt_ms / 1e3,
            n,
            &job,
            &mut bar,
        )?),
    };
    let result = serde_json::json!({
        "searches": report.searches, "best": report.best, "final": done, "runtime": runtime,
    });
    write_json(&args.out.join("automl.json"), &result)?;
    if json {
        return print_json(&result);
    }
    print_searches(&report);
    let winner = report.winner();
    let searched_cut = winner
        .cut
        .as_ref()
        .map_or("device-only".into(), |c| format!("cut {} ({})", c.index, c.tensor));
    println!(
        "search winner: {searched_cut}, kept {:?}, {} bits, reward {:.4} ({:.2} ms predicted)",
        done.config.kept,
        done.config.bits,
        done.searched_reward,
        1e3 * winner.best.cost.prediction.total_s,
    );
    match done.deployed {
        Deployed::Searched => println!(
            "deployed: the searched split: test accuracy {:.2} % (unsplit model {:.2} %; {:.2} % \
             before fine-tuning), {:.1} B per frame, {:.2} ms predicted end to end",
            100.0 * done.accuracy,
            100.0 * done.baseline_accuracy,
            100.0 * done.accuracy_before_finetune.unwrap_or(f64::NAN),
            done.bytes_per_sample,
            1e3 * done.prediction.total_s
        ),
        other => println!(
            "deployed: {other}, which scores a better reward ({:.4}) than any searched split \
             (--force-split deploys the split anyway): test accuracy {:.2} %, {:.1} B per \
             frame, {:.2} ms predicted end to end",
            done.deployed_reward,
            100.0 * done.accuracy,
            done.bytes_per_sample,
            1e3 * done.prediction.total_s
        ),
    }
    for (b, speedup) in done.baselines.iter().zip(&done.speedups) {
        println!(
            "  vs {}: {:.2} ms predicted, {:.2} % (validation): speedup of the deployed plan {:.2}×",
            b.method,
            1e3 * b.latency_s,
            100.0 * b.accuracy,
            speedup.1
        );
    }
    for c in runtime.iter().flat_map(|r| &r.checks) {
        println!(
            "real runtime at {} Mbit/s: measured p50 {:.2} ms (p95 {:.2}) vs predicted {:.2} ms \
             ({:+.1} %), {:.0} B up per request on the wire",
            c.mbps,
            c.measured.e2e_ms.p50,
            c.measured.e2e_ms.p95,
            1e3 * c.predicted.total_s,
            100.0 * c.relative_error,
            c.wire_bytes[0]
        );
    }
    println!(
        "wrote {0}/plan.json (run it: coinfer edge serve --models {0}; coinfer device run --plan \
         {0}/plan.json), {0}/automl.json, {0}/episodes.jsonl",
        args.out.display()
    );
    Ok(())
}

fn print_searches(report: &AutomlReport) {
    let rows = report
        .searches
        .iter()
        .map(|s| {
            vec![
                s.cut.as_ref().map_or("device-only".into(), |c| c.index.to_string()),
                format!("{:.0}", s.space_size),
                s.evaluations.to_string(),
                format!("{:?}", s.best.config.kept),
                s.best.config.bits.to_string(),
                format!("{:.2}", 100.0 * s.best.evaluated.accuracy),
                format!("{:.1}", s.best.cost.feature_bytes.unwrap_or(0.0)),
                format!("{:.2}", 1e3 * s.best.cost.prediction.total_s),
                format!("{:.4}", s.best.reward),
                format!("{:.0}", s.seconds),
            ]
        })
        .collect();
    let headers = [
        "cut",
        "space",
        "evals",
        "kept",
        "bits",
        "proxy acc %",
        "bytes",
        "pred. ms",
        "reward",
        "s",
    ];
    println!("{}", table(&headers, rows));
}

fn proxies(args: &ProxiesArgs, json: bool) -> Result<()> {
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let checkpoint = args.out.join("proxies.jsonl");
    let done = read_jsonl::<ProxyRow>(&checkpoint)?;
    let config = ProxyStudyConfig {
        graph: &graph,
        until: args.until.as_deref(),
        configs: args.configs,
        seed: args.seed,
        multiple_of: args.multiple_of,
        max_ratio: args.max_ratio,
        recalibration_images: args.recalibration_images,
        short_steps: args.short_steps,
        full: FitConfig { epochs: args.epochs, limit: args.limit, ..FitConfig::default() },
        val_images: args.val_images,
        data: DatasetName::FashionMnist,
        engine: args.engine.name(),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&checkpoint)
        .with_context(|| format!("opening {}", checkpoint.display()))?;
    let append = |row: &ProxyRow| -> coinfer_pipeline::Result<()> {
        let line = serde_json::to_string(row).map_err(|e| {
            coinfer_pipeline::PipelineError::Invalid(format!("serialising a row: {e}"))
        })?;
        writeln!(file, "{line}").map_err(|source| coinfer_pipeline::PipelineError::Io {
            what: "appending to the checkpoint".into(),
            source,
        })
    };
    let study = proxy_study(&config, done, append, &mut super::Bar::new(json))?;
    write_json(&args.out.join("proxies.json"), &study)?;
    if json {
        return print_json(&study);
    }
    print_study(&study);
    println!("wrote {0}/proxies.json ({0}/proxies.jsonl: the rows, resumable)", args.out.display());
    Ok(())
}

fn print_study(study: &ProxyStudy) {
    let pct = |x: f64| format!("{:.2}", 100.0 * x);
    let rows = study
        .rows
        .iter()
        .map(|r| {
            vec![
                r.index.to_string(),
                format!("{:.1} M", r.macs as f64 / 1e6),
                pct(r.as_pruned),
                pct(r.adaptive_bn),
                pct(r.short_finetune),
                pct(r.full_finetune),
            ]
        })
        .collect();
    let headers = ["#", "MACs", "as pruned %", "adaptive BN %", "short FT %", "full FT %"];
    println!("{}", table(&headers, rows));
    let [a, b, c] = study.spearman;
    let [sa, sb, sc, sf] = study.mean_seconds;
    println!(
        "Spearman ρ with the full fine-tune: as pruned {a:.3} ({sa:.1} s), adaptive BN {b:.3} \
         ({sb:.1} s), short fine-tune {c:.3} ({sc:.1} s); full fine-tune {sf:.0} s per configuration"
    );
}
