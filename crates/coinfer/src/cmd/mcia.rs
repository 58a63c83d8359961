//! `coinfer mcia train|eval|sweep|deploy`: seed 001 (MCIA) on a scenario file.

use anyhow::{Context, Result};
use coinfer_pipeline::mcia::{self, EvalConfig, EvalReport, MciaPpo, MciaPpoConfig, TrainConfig};
use coinfer_pipeline::mcia_deploy::{self, DeployConfig};

use super::Bar;
use crate::args::{MciaEvalCommon, MciaWhat};
use crate::output::{print_json, table, write_json};
use coinfer_report::{write_svg, Series};

pub fn run(what: MciaWhat, json: bool) -> Result<()> {
    single_candle_thread();
    match what {
        MciaWhat::Train(a) => {
            let config = TrainConfig {
                scenario: a.scenario.clone(),
                slots: a.slots,
                device_counts: a.devices.clone(),
                agent: MciaPpoConfig {
                    hidden: a.hidden,
                    lr: a.lr,
                    top_k: a.top_k,
                    shares: if a.learned_shares {
                        mcia::ShareMode::Learned
                    } else {
                        mcia::ShareMode::Exact
                    },
                    seed: a.seed,
                    ..MciaPpoConfig::default()
                },
            };
            let report = mcia::train(&config, &a.agent, &mut Bar::new(json))?;
            let dir = a.agent.parent().filter(|d| !d.as_os_str().is_empty());
            let dir = dir.unwrap_or(std::path::Path::new("."));
            let stem = a.agent.file_stem().and_then(|s| s.to_str()).unwrap_or("agent");
            let file = |ext: &str| dir.join(format!("{stem}-train.{ext}"));
            write_json(&file("json"), &report)?;
            let mut csv = String::from("slots,seconds,mean_utility,entropy,offload_fraction\n");
            for l in &report.curve {
                csv += &format!(
                    "{},{},{},{},{}\n",
                    l.slots, l.seconds, l.mean_utility, l.entropy, l.offload_fraction
                );
            }
            std::fs::write(file("csv"), csv).context("writing the training curve")?;
            let curve = |f: fn(&mcia::TrainLog) -> f64, label: &str| Series {
                label: label.into(),
                points: report.curve.iter().map(|l| (l.slots as f64, f(l))).collect(),
            };
            write_svg(
                &file("svg"),
                &[
                    (
                        "Sampled slot utility while training",
                        "slots",
                        "utility",
                        vec![curve(|l| l.mean_utility, "mean utility")],
                        false,
                    ),
                    (
                        "Policy entropy",
                        "slots",
                        "nats",
                        vec![curve(|l| l.entropy, "entropy")],
                        false,
                    ),
                ],
            )?;
            if json {
                return print_json(&report);
            }
            println!(
                "trained on {} slots in {:.0} s; wrote {} and {}/{stem}-train.{{json,csv,svg}}",
                a.slots,
                report.seconds,
                a.agent.display(),
                dir.display()
            );
            Ok(())
        }
        MciaWhat::Eval(a) => {
            let mut agents = load_agents(&a.common)?;
            let config = eval_config(&a.common, a.devices)?;
            let report = mcia::evaluate(&config, &mut agents, &mut Bar::new(json))?;
            if let Some(dir) = &a.common.out {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                write_json(&dir.join("eval.json"), &report)?;
                std::fs::write(dir.join("eval.csv"), csv(std::slice::from_ref(&report))?)
                    .context("writing eval.csv")?;
            }
            if json {
                return print_json(&report);
            }
            println!("{}", report_table(&report).to_text());
            Ok(())
        }
        MciaWhat::Sweep(a) => {
            let mut agents = load_agents(&a.common)?;
            let config = eval_config(&a.common, None)?;
            let (reports, x_label) = match &a.vary {
                Some(v) => {
                    let (field, values) = v
                        .split_once('=')
                        .with_context(|| format!("--vary {v}: write FIELD=V1,V2,…"))?;
                    let field = field.trim().to_string();
                    let values: Vec<String> =
                        values.split(',').map(|x| x.trim().to_string()).collect();
                    let reports = mcia::sweep_field(
                        &config,
                        &field,
                        &values,
                        &mut agents,
                        &mut Bar::new(json),
                    )?;
                    (reports, field)
                }
                None => (
                    mcia::sweep(&config, &a.devices, &mut agents, &mut Bar::new(json))?,
                    "devices".to_string(),
                ),
            };
            if let Some(dir) = &a.common.out {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                write_json(&dir.join("sweep.json"), &reports)?;
                std::fs::write(dir.join("sweep.csv"), csv(&reports)?)
                    .context("writing sweep.csv")?;
                plot_sweep(&dir.join("sweep.svg"), &reports, &x_label)?;
            }
            let tables: Vec<_> = reports.iter().map(report_table).collect();
            if let Some(dir) = &a.common.out {
                let caption =
                    format!("Gap closed, utility per device and decision time against {x_label}.");
                super::write_page(dir, "coinfer mcia sweep", &tables, &[("sweep.svg", &caption)])?;
            }
            if json {
                return print_json(&reports);
            }
            for t in &tables {
                println!("{}\n", t.to_text());
            }
            if let Some(dir) = &a.common.out {
                println!("wrote {}/index.html (the report)", dir.display());
            }
            Ok(())
        }
        MciaWhat::Deploy(a) => deploy(a, json),
    }
}

fn deploy(a: crate::args::MciaDeployArgs, json: bool) -> Result<()> {
    let config = DeployConfig {
        scenario: a.scenario.clone(),
        agent: a.agent.clone(),
        devices: a.devices,
        slots: a.slots,
        requests: a.requests,
        seed: a.seed,
        engine: a.engine.name().to_string(),
        decision: a.decision.settings(),
    };
    let report = mcia_deploy::deploy(&config, &mut Bar::new(json))?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_json(&dir.join("deploy.json"), &report)?;
        std::fs::write(dir.join("deploy.csv"), deploy_csv(&report))
            .context("writing deploy.csv")?;
    }
    if json {
        return print_json(&report);
    }
    let f = |v: f64| format!("{:.1}", v + 0.0);
    let rows = report
        .runs
        .iter()
        .map(|r| {
            vec![
                r.slot.to_string(),
                r.device_id.clone(),
                r.version.clone(),
                r.partition.to_string(),
                if r.offloads { format!("{:.2}", r.compute_share) } else { "-".into() },
                if r.offloads { format!("{:.2}", r.bandwidth_share) } else { "-".into() },
                if r.offloads { format!("{:.2}", r.link_bps / 1e6) } else { "-".into() },
                format!("{} / {}", f(r.simulated_ms.device), f(r.measured_ms.device)),
                format!("{} / {}", f(r.simulated_ms.transfer), f(r.measured_ms.transfer)),
                format!("{} / {}", f(r.simulated_ms.edge), f(r.measured_ms.edge)),
                format!("{} / {}", f(r.simulated_ms.total), f(r.measured_ms.total)),
                f(r.measured_e2e_ms.p95),
                format!("{:+.1} %", 100.0 * r.relative_error),
                format!("{}/{}/{}", r.served[0], r.served[1], r.served[2]),
                r.overruns.0.to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "slot",
                "device",
                "version",
                "layers on device",
                "compute share",
                "band share",
                "link Mbit/s",
                "device ms sim / meas",
                "transfer ms",
                "edge ms",
                "total ms",
                "p95 ms",
                "error",
                "edge/local/fallback",
                "overruns",
            ],
            rows,
        )
    );
    for (slot, [sim, meas]) in report.slot_utility.iter().enumerate() {
        println!("slot {slot}: utility simulated {sim:.4}, measured {meas:.4}");
    }
    let e = &report.abs_error;
    println!(
        "|error| of the mean latency: offloading devices median {:.1} %, max {:.1} %; local \
         devices median {:.1} %, max {:.1} %  (stack time {:.2} ms, {} requests per device \
         and slot)",
        100.0 * e.offloading_median,
        100.0 * e.offloading_max,
        100.0 * e.local_median,
        100.0 * e.local_max,
        report.stack_s * 1e3,
        report.requests
    );
    let overruns: usize = report.runs.iter().map(|r| r.overruns.0).sum();
    if overruns > 0 {
        println!(
            "{overruns} requests overran their emulated device time: this host was too busy to \
             emulate those devices (fewer devices, or slower device profiles, emulate faithfully)"
        );
    }
    println!("{}", report.note);
    Ok(())
}

fn deploy_csv(report: &mcia_deploy::DeployReport) -> String {
    let mut out = String::from(
        "slot,device,task,version,partition,offloads,compute_share,bandwidth_share,link_bps,\
         sim_device_ms,sim_transfer_ms,sim_edge_ms,sim_total_ms,meas_device_ms,meas_transfer_ms,\
         meas_edge_ms,meas_total_ms,meas_p50_ms,meas_p95_ms,relative_error,utility_sim,\
         utility_meas,sim_request_bytes,frame_bytes,edge,local,fallback,overruns,mean_overrun_ms\n",
    );
    for r in &report.runs {
        let (s, m) = (&r.simulated_ms, &r.measured_ms);
        out += &format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.slot,
            r.device_id,
            r.task,
            r.version,
            r.partition,
            r.offloads,
            r.compute_share,
            r.bandwidth_share,
            r.link_bps,
            s.device,
            s.transfer,
            s.edge,
            s.total,
            m.device,
            m.transfer,
            m.edge,
            m.total,
            r.measured_e2e_ms.p50,
            r.measured_e2e_ms.p95,
            r.relative_error,
            r.utility[0],
            r.utility[1],
            r.request_bytes[0],
            r.request_bytes[1],
            r.served[0],
            r.served[1],
            r.served[2],
            r.overruns.0,
            r.overruns.1,
        );
    }
    out
}

/// The agent's networks are small: candle's multithreaded matmuls only contend (half the
/// time in the kernel on this 2-core machine, 5× slower). One thread unless the user says
/// otherwise; called before any other thread exists.
fn single_candle_thread() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
}

fn load_agents(common: &MciaEvalCommon) -> Result<Vec<MciaPpo>> {
    common
        .agent
        .iter()
        .map(|p| {
            let mut agent =
                MciaPpo::load(p).with_context(|| format!("loading the agent {}", p.display()))?;
            agent.set_decision(&common.decision.settings());
            Ok(agent)
        })
        .collect()
}

fn eval_config(common: &MciaEvalCommon, devices: Option<usize>) -> Result<EvalConfig> {
    let set = common
        .set
        .iter()
        .map(|s| {
            let (field, value) =
                s.split_once('=').with_context(|| format!("--set {s}: write FIELD=VALUE"))?;
            Ok((field.trim().to_string(), value.trim().to_string()))
        })
        .collect::<Result<_>>()?;
    Ok(EvalConfig {
        scenario: common.scenario.clone(),
        devices,
        slots: common.slots,
        seed: common.seed,
        cd_rounds: common.cd_rounds,
        set,
    })
}

/// What a report varies: the last field set (its value if a number, else its position), or
/// the device count.
fn x_of(r: &EvalReport, position: usize) -> f64 {
    match r.config.set.last() {
        Some((_, v)) => v.parse().unwrap_or(position as f64),
        None => r.devices as f64,
    }
}

/// One CSV row per (device count or varied value, method).
fn csv(reports: &[EvalReport]) -> Result<String> {
    let mut w = csv::Writer::from_writer(vec![]);
    w.write_record([
        "devices",
        "varied",
        "value",
        "method",
        "mean_utility",
        "gap_closed",
        "gap_closed_p5",
        "mean_latency_ms",
        "p95_latency_ms",
        "accuracy",
        "offload_fraction",
        "offloads_where_reference_does",
        "decision_us",
        "decision_us_p95",
    ])?;
    for r in reports {
        let (field, value) = r.config.set.last().cloned().unwrap_or_default();
        for m in &r.methods {
            let numbers = [
                m.mean_utility,
                m.gap_closed,
                m.gap_closed_p5,
                m.mean_latency_ms,
                m.p95_latency_ms,
                m.accuracy,
                m.offload_fraction,
                m.offloads_where_reference_does,
                m.decision_us,
                m.decision_us_p95,
            ];
            let mut row =
                vec![r.devices.to_string(), field.clone(), value.clone(), m.method.clone()];
            row.extend(numbers.iter().map(f64::to_string));
            w.write_record(&row)?;
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// An evaluation as a table (printed, and kept for the page).
fn report_table(r: &EvalReport) -> coinfer_report::Table {
    let set: String = r.config.set.iter().map(|(f, v)| format!("{f} = {v}; ")).collect();
    let title = format!(
        "{set}{} devices, {} held-out slots; reference: {}; gap = reference − {} = {:.4} \
         utility/slot (∩ ref: of the devices the reference offloads, the fraction this method \
         offloads too)",
        r.devices, r.config.slots, r.reference, r.best_trivial, r.gap
    );
    let kinds: Vec<String> =
        r.methods.first().map(|m| m.deadline_misses.keys().cloned().collect()).unwrap_or_default();
    let mut header = vec![
        "method",
        "utility",
        "gap closed",
        "p5",
        "lat ms",
        "p95 ms",
        "acc",
        "offload",
        "∩ ref",
    ];
    let miss_labels: Vec<String> = kinds.iter().map(|k| format!("miss {k}")).collect();
    header.extend(miss_labels.iter().map(|s| s.as_str()));
    header.push("decide µs");
    let rows = r
        .methods
        .iter()
        .map(|m| {
            let mut row = vec![
                m.method.clone(),
                format!("{:.4}", m.mean_utility),
                format!("{:.1} %", 100.0 * m.gap_closed),
                format!("{:.1} %", 100.0 * m.gap_closed_p5),
                format!("{:.1}", m.mean_latency_ms),
                format!("{:.1}", m.p95_latency_ms),
                format!("{:.4}", m.accuracy),
                format!("{:.2}", m.offload_fraction),
                format!("{:.2}", m.offloads_where_reference_does),
            ];
            row.extend(kinds.iter().map(|k| {
                m.deadline_misses.get(k).map_or("-".into(), |x| format!("{:.1} %", 100.0 * x))
            }));
            row.push(format!("{:.0}", m.decision_us));
            row
        })
        .collect();
    coinfer_report::Table::new(title, &header, rows)
}

/// Gap closed, utility per device and decision time against the number of devices.
fn plot_sweep(path: &std::path::Path, reports: &[EvalReport], x_label: &str) -> Result<()> {
    let mut names: Vec<String> = Vec::new();
    for r in reports {
        for m in &r.methods {
            if !names.contains(&m.method) && !m.method.starts_with("reference,") {
                names.push(m.method.clone());
            }
        }
    }
    let series = |f: &dyn Fn(&EvalReport, &coinfer_pipeline::mcia::MethodStats) -> f64| {
        names
            .iter()
            .map(|name| Series {
                label: name.clone(),
                points: reports
                    .iter()
                    .enumerate()
                    .filter_map(|(i, r)| {
                        r.methods.iter().find(|m| &m.method == name).map(|m| (x_of(r, i), f(r, m)))
                    })
                    .filter(|p| p.1.is_finite())
                    .collect(),
            })
            .collect::<Vec<_>>()
    };
    write_svg(
        path,
        &[
            (
                "Gap closed: reference = exhaustive ≤ 8 devices, coordinate descent above (clipped at −1)",
                x_label,
                "fraction of the gap",
                series(&|_, m| m.gap_closed.max(-1.0)),
                false,
            ),
            (
                "Mean utility per device",
                x_label,
                "utility",
                series(&|r, m| m.mean_utility / r.devices as f64),
                false,
            ),
            ("Decision time per slot", x_label, "µs", series(&|_, m| m.decision_us), true),
        ],
    )?;
    Ok(())
}

/// `coinfer bench mcia`.
pub fn bench(
    scenario: &std::path::Path,
    agent: &std::path::Path,
    devices: usize,
    slots: usize,
    decision: &mcia::DecisionSettings,
    json: bool,
) -> Result<()> {
    single_candle_thread();
    let mut agent =
        MciaPpo::load(agent).with_context(|| format!("loading the agent {}", agent.display()))?;
    agent.set_decision(decision);
    let b = mcia::decision_bench(scenario, &mut agent, devices, slots)?;
    if json {
        return print_json(&b);
    }
    println!("{devices} devices, {} slots, one core: decision time per slot", b.slots);
    let rows = b
        .rows
        .iter()
        .map(|r| {
            vec![
                r.method.clone(),
                format!("{:.1}", r.mean_us),
                format!("{:.1}", r.p95_us),
                format!("{:.2}×", r.mean_us / b.agent_us),
            ]
        })
        .collect();
    println!("{}", table(&["method", "mean µs", "p95 µs", "× agent"], rows));
    Ok(())
}
