//! `coinfer demo`: profile the default model, choose the best split per bandwidth
//! (exhaustive, Neurosurgeon-style), execute it on real test images, write report/.

use anyhow::{bail, Context, Result};
use coinfer_data::DatasetName;
use coinfer_pipeline::demo::{run_demo, DemoConfig, DemoReport};

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
    let report = run_demo(&config, &mut super::Bar::new(json))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_report(&args.out, &report, &super::command_line())?;
    write_json(&args.out.join("demo.json"), &report)?;
    if json {
        return print_json(&report);
    }
    println!("{}", coinfer_report::demo::plans_table(&report).to_text());
    println!("{}", coinfer_report::demo::executions_table(&report).to_text());
    if let Some(runtime) = &report.runtime {
        println!("{}", coinfer_report::demo::runtime_table(runtime, args.rtt_ms).to_text());
    }
    println!(
        "wrote {0}/index.html (the report), {0}/demo.json, {0}/latency.svg, {0}/profile.svg{1}",
        args.out.display(),
        if report.runtime.is_none() {
            String::new()
        } else {
            format!(", {}/runtime.svg", args.out.display())
        }
    );
    Ok(())
}

/// `profile.svg`, `latency.svg` and (with a runtime run) `runtime.svg` in `out`, and the
/// page with all of them, `index.html`.
fn write_report(out: &std::path::Path, report: &DemoReport, command: &str) -> Result<()> {
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
    page::page(report, command)?.write(&out.join("index.html"))?;
    Ok(())
}
