//! `coinfer plan`: the fastest split and codec of a user's own model for a device and link.

use anyhow::{Context, Result};
use coinfer_pipeline::plan_model::{plan_model, write_plan_dir, PlanModelConfig, Samples};
use coinfer_sim::Hardware;

use crate::args::PlanArgs;
use crate::output::print_json;

pub fn run(args: &PlanArgs, json: bool) -> Result<()> {
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let shapes = args.shape.shapes()?;
    let samples = match &args.inputs {
        Some(path) => Samples::Given(
            coinfer_engine::read_npy(path)
                .with_context(|| format!("--inputs {}", path.display()))?,
        ),
        None => Samples::Random { count: args.samples, seed: 0 },
    };
    if !(args.rate_mbps.is_finite() && args.rate_mbps > 0.0) {
        anyhow::bail!("--rate-mbps must be a positive number, not {}", args.rate_mbps);
    }
    let config = PlanModelConfig {
        model: &args.model,
        graph: &graph,
        shapes: &shapes,
        engine: args.engine.name(),
        device: Hardware::from_spec(&args.device)?,
        edge: Hardware::from_spec(&args.edge)?,
        link: coinfer_pipeline::automl::search_link(args.rate_mbps, args.rtt_ms),
        samples,
        min_agreement: args.min_agreement,
    };
    let report = plan_model(&config, &mut super::Bar::new(json))?;
    let stem = report.plan.devices[0].model.clone();
    let dir = args.out.clone().unwrap_or_else(|| format!("plan-{stem}").into());
    let files = write_plan_dir(&report, &graph, &dir)?;
    let page =
        coinfer_report::plan::page(&report, &super::command_line(), &dir.display().to_string())?;
    page.write(&dir.join("index.html"))?;
    if json {
        return print_json(&serde_json::json!({ "report": report, "files": files }));
    }

    println!("{}", coinfer_report::plan::options_table(&report, 8).to_text());
    if !report.samples_given {
        println!(
            "note: agreement was checked on {} random inputs (uniform in [0, 1)), not real data; \
             pass --inputs SAMPLES.npy for samples of your own",
            report.check_samples
        );
    }
    let best = report.best();
    println!(
        "plan: {} with {} — {:.2} ms predicted, top-1 agreement {:.1} % on {} samples \
         (floor {:.1} %); {:.1} s",
        best.split,
        best.codec,
        1e3 * best.prediction.total_s,
        100.0 * best.agreement,
        report.check_samples,
        100.0 * report.min_agreement,
        report.seconds
    );
    let d = files.dir.display();
    println!("wrote {d}/ (index.html, plan.json, {stem}.onnx, report.json{})", {
        if files.halves.is_some() {
            ", head.onnx, tail.onnx"
        } else {
            ""
        }
    });
    println!("run it:  coinfer edge serve --models {d} --plan {d}/plan.json");
    println!(
        "         coinfer device run --plan {d}/plan.json --models {d} --edge http://127.0.0.1:50051 \
         --inputs {}",
        args.inputs.as_ref().map_or("SAMPLES.npy".into(), |p| p.display().to_string())
    );
    Ok(())
}
