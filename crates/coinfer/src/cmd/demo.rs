//! `coinfer demo`: profile the default model, choose the best split per bandwidth
//! (exhaustive, Neurosurgeon-style), execute it on real test images, write report/.

use anyhow::{bail, Context, Result};
use coinfer_data::DatasetName;
use coinfer_pipeline::demo::{run_demo, DemoConfig, DemoReport};
use coinfer_pipeline::demo_seeds::{run_seeds, SeedsConfig, SeedsReport};
use coinfer_pipeline::mcia::EvalConfig;
use coinfer_pipeline::mcia_deploy::DeployConfig;
use coinfer_pipeline::placement_run::{PlacementRunConfig, Strategy};

use coinfer_sim::Hardware;

use crate::args::DemoArgs;
use crate::output::{print_json, write_json};

pub fn run(args: &DemoArgs, json: bool) -> Result<()> {
    if !args.model.is_file() {
        bail!(
            "{} not found: run coinfer from the project root, or train it with `coinfer train`",
            args.model.display()
        );
    }
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let config = DemoConfig {
        model: &args.model,
        graph: &graph,
        engine: args.engine.name(),
        device: Hardware::from_spec(&args.device)?,
        edge: Hardware::from_spec(&args.edge)?,
        mbps: args.mbps.clone(),
        rtt_s: args.rtt_ms / 1e3,
        images: args.images,
        runtime_images: args.runtime_images,
        data: DatasetName::FashionMnist,
    };
    let mut bar = super::Bar::new(json);
    let report = run_demo(&config, &mut bar)?;
    let bundled = args.model == std::path::Path::new(crate::args::DEFAULT_MODEL);
    let seeds = if args.no_seeds || !bundled {
        if !bundled && !args.no_seeds {
            tracing::warn!(
                "the papers' sections need the bundled model; skipped for {}",
                args.model.display()
            );
        }
        None
    } else {
        Some(run_seeds(&seeds_config(args, &config)?, &report, &mut bar)?)
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_report(&args.out, &report, seeds.as_ref(), &super::command_line())?;
    // demo.json: the demo's result with the seeds' under `seeds`.
    let mut value = serde_json::to_value(&report)?;
    if let (Some(map), Some(seeds)) = (value.as_object_mut(), &seeds) {
        map.insert("seeds".into(), serde_json::to_value(seeds)?);
    }
    write_json(&args.out.join("demo.json"), &value)?;
    if json {
        return print_json(&value);
    }
    use coinfer_report::{demo as d, seeds as s};
    if let Some(seeds) = seeds.as_ref().filter(|s| !s.automl.is_empty()) {
        println!("{}", s::headline_table(&report, seeds).to_text());
        println!("(shipped AutoML plans, made by: {})\n", seeds.automl_command);
    }
    println!("{}", s::input_baselines_table(&report).to_text());
    println!("{}", d::plans_table(&report).to_text());
    println!("{}", d::executions_table(&report).to_text());
    if let Some(runtime) = &report.runtime {
        println!("{}", d::runtime_table(runtime, args.rtt_ms).to_text());
    }
    if let Some(seeds) = &seeds {
        if !seeds.automl_runtime.is_empty() {
            println!("{}", s::automl_runtime_table(seeds).to_text());
        }
        let tables = [
            s::rules_table(seeds),
            s::placement_table(seeds),
            s::mcia_eval_table(seeds),
            s::mcia_deploy_table(seeds),
        ];
        for t in tables.into_iter().flatten() {
            println!("{}", t.to_text());
        }
    }
    println!(
        "wrote {0}/index.html (the report: open it in a browser), {0}/demo.json and the figures",
        args.out.display()
    );
    Ok(())
}

/// The shipped inputs of the papers' sections (paths from the repository root).
fn seeds_config(args: &DemoArgs, demo: &DemoConfig<'_>) -> Result<SeedsConfig> {
    let n = args.seed_requests;
    let placement = PlacementRunConfig {
        config: super::placement::read_stopping_config(std::path::Path::new(
            "examples/placement-runtime.toml",
        ))?,
        versions: [25, 50, 75, 100]
            .map(|w| format!("models/versions/fmnist-resnet-w{w:03}.onnx").into())
            .to_vec(),
        strategies: vec![Strategy::Optimal, Strategy::Full, Strategy::Nothing, Strategy::Fixed(6)],
        // A whole number of rounds of the 8 states, so each is visited equally often.
        requests: n.max(4).div_ceil(8) * 8,
        states: 8,
        slot_ms: 40.0,
        compare_rules: true,
        seed: 1,
        engine: demo.engine.to_string(),
    };
    let scenario: std::path::PathBuf = "experiments/mcia/scenarios/contended-4.toml".into();
    let agent: std::path::PathBuf = "experiments/mcia/contended-4/agent.safetensors".into();
    let eval = EvalConfig {
        scenario: scenario.clone(),
        devices: None,
        slots: 200,
        seed: 12_345,
        cd_rounds: 10,
        set: vec![],
    };
    let deploy = DeployConfig {
        scenario,
        agent: agent.clone(),
        devices: Some(4),
        slots: 2,
        requests: n.max(2),
        seed: 12_345,
        engine: demo.engine.to_string(),
        decision: Default::default(),
    };
    Ok(SeedsConfig {
        engine: demo.engine.to_string(),
        device: demo.device.clone(),
        edge: demo.edge.clone(),
        rtt_s: demo.rtt_s,
        data: demo.data,
        automl_plans: [0.1, 1.0, 10.0]
            .map(|r| (r, format!("experiments/automl/plan-cut2-{r}").into()))
            .to_vec(),
        automl_command: "bash experiments/automl/search.sh (step 4)".into(),
        automl_runtime_images: n,
        placement: Some(placement),
        mcia_eval: Some((eval, agent)),
        mcia_deploy: Some(deploy),
    })
}

/// `profile.svg`, `latency.svg` and (with a runtime run) `runtime.svg` in `out`, and the
/// page with all of them, `index.html`.
fn write_report(
    out: &std::path::Path,
    report: &DemoReport,
    seeds: Option<&SeedsReport>,
    command: &str,
) -> Result<()> {
    use coinfer_report::demo as page;
    let write = |name: &str, figure: coinfer_report::Figure| {
        let path = out.join(name);
        std::fs::write(&path, figure.svg).with_context(|| format!("writing {}", path.display()))
    };
    write("profile.svg", page::profile_figure(&report.profile)?)?;
    write("latency.svg", page::latency_figure(report)?)?;
    if let Some(runtime) = &report.runtime {
        write("runtime.svg", page::runtime_figure(runtime)?)?;
    }
    page::page(report, seeds, command)?.write(&out.join("index.html"))?;
    Ok(())
}
