//! One module per subcommand.

mod automl;
mod bench;
mod bottleneck;
mod codec;
mod cuts;
mod demo;
mod device;
mod device_place;
mod edge;
mod eval;
mod finetune;
mod link;
mod mcia;
mod placement;
mod plan;
mod profile;
mod prune;
mod run;
mod split;
mod stopping;
mod train;
mod versions;

use anyhow::Result;

use crate::args::{BenchWhat, Cli, Command};

/// The command line this process was started with, quoted where a shell needs it: the
/// "reproduce" line of a report.
pub(crate) fn command_line() -> String {
    std::env::args()
        .enumerate()
        .map(|(i, a)| {
            let a = if i == 0 { "coinfer".to_string() } else { a };
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `dir/index.html`: the command line, `tables` and the SVG figures already written in
/// `dir` (file name, caption), one self-contained page.
pub(crate) fn write_page(
    dir: &std::path::Path,
    title: &str,
    tables: &[coinfer_report::Table],
    figures: &[(&str, &str)],
) -> Result<()> {
    use anyhow::Context;
    let mut page = coinfer_report::Page::new(title);
    let command = command_line();
    page.setting("command", command.clone());
    let section = page.section("Results");
    for t in tables {
        section.table(t.clone());
    }
    for (file, caption) in figures {
        let path = dir.join(file);
        let svg = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        section.figure(coinfer_report::Figure { caption: caption.to_string(), svg });
    }
    section.command(command);
    page.write(&dir.join("index.html"))?;
    Ok(())
}

/// Dispatches a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Demo(a) => demo::run(&a, json),
        Command::Cuts(a) => cuts::run(&a, json),
        Command::Split(a) => split::run(&a, json),
        Command::Compose(a) => split::compose(&a, json),
        Command::Run(a) => run::run(&a, json),
        Command::Eval(a) => eval::run(&a, json),
        Command::Profile(a) => profile::run(&a, json),
        Command::Plan(a) => plan::run(&a, json),
        Command::Train(a) => train::run(&a, json),
        Command::Stopping(a) => stopping::run(&a, json),
        Command::Placement(a) => placement::run(&a, json),
        Command::Bench(a) => match a.what {
            BenchWhat::Engine { models, engines, batches, seconds } => {
                bench::engine(models, engines, &batches, seconds, json)
            }
            BenchWhat::Stopping => bench::stopping(json),
            BenchWhat::Sim { devices } => bench::sim(devices, json),
            BenchWhat::Mcia { scenario, agent, devices, slots, decision } => {
                mcia::bench(&scenario, &agent, devices, slots, &decision.settings(), json)
            }
            BenchWhat::Edge(setup) => edge::bench(&setup, json),
            BenchWhat::Tls { requests, idle, cut, serving } => {
                edge::bench_tls(requests, idle, cut, serving, json)
            }
            BenchWhat::Codec => bench::codec(json),
        },
        Command::Profiles => profile::list(json),
        Command::Edge(a) => edge::run(a.what, json),
        Command::Device(a) => match a.what {
            crate::args::DeviceWhat::Run(r) => device::run(&r, json),
        },
        Command::Link(a) => link::run(&a, json),
        Command::Codec(a) => codec::run(a.what, json),
        Command::Prune(a) => prune::run(&a, json),
        Command::Finetune(a) => finetune::run(&a, json),
        Command::Versions(a) => versions::run(&a, json),
        Command::Automl(a) => automl::run(a, json),
        Command::Mcia(a) => mcia::run(a.what, json),
    }
}

/// Loads and analyses a model whose inputs are declared in full (bar the batch dim), with the
/// path in the error.
pub(crate) fn load_graph(path: &std::path::Path) -> Result<coinfer_graph::Graph> {
    load_graph_at(path, &crate::args::ShapeArg::default())
}

/// Loads and analyses a model at the user's `--input-shape`s, with the path in the error.
pub(crate) fn load_graph_at(
    path: &std::path::Path,
    shape: &crate::args::ShapeArg,
) -> Result<coinfer_graph::Graph> {
    use anyhow::Context;
    let shapes = shape.shapes()?;
    coinfer_graph::Graph::load_with(path, &shapes)
        .with_context(|| format!("loading {}", path.display()))
}

/// Checks that a data set's images fit the model's first input at the shape it was analysed at.
pub(crate) fn check_data_fits(
    graph: &coinfer_graph::Graph,
    data: &coinfer_data::Dataset,
) -> Result<()> {
    let Some(input) = graph.inputs.first() else { return Ok(()) };
    let shape = graph.input_shapes.get(input).unwrap_or_default();
    if shape.get(1..) != Some(&data.image_shape[..]) {
        anyhow::bail!(
            "the {} images are {:?} per sample, but the model's input `{input}` is analysed at \
             {shape:?}; give --input-shape {input}:1,{} if its dims are symbolic",
            data.name,
            data.image_shape,
            data.image_shape.map(|d| d.to_string()).join(",")
        );
    }
    Ok(())
}

/// A progress bar on stderr (hidden with --json or when stderr is not a terminal).
pub(crate) fn progress_bar(len: u64, msg: &str, json: bool) -> indicatif::ProgressBar {
    let bar =
        if json { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(len) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>12} [{bar:30}] {pos}/{len} {elapsed}<{eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(msg.to_string());
    bar
}

pub(crate) use coinfer_pipeline::layers::layer_table;

/// The pipeline's progress reports as a progress bar on stderr (hidden with --json), notes
/// logged and printed above it. When stderr is not a terminal (a log file, `2>&1 | tee`),
/// plain lines instead: each stage's start, every tenth of it (or a minute), its end, and
/// every note — so a long run redirected to a file still says what it is doing.
pub(crate) struct Bar {
    bar: indicatif::ProgressBar,
    json: bool,
    /// Plain lines instead of a bar.
    plain: Option<PlainLines>,
}

/// The state of [`Bar`]'s plain-line reports.
struct PlainLines {
    label: String,
    total: u64,
    started: std::time::Instant,
    last_line: std::time::Instant,
    tenths: u64,
}

impl Bar {
    /// Reports to the terminal unless `json`.
    pub(crate) fn new(json: bool) -> Bar {
        use std::io::IsTerminal;
        let plain = (!json && !std::io::stderr().is_terminal()).then(|| PlainLines {
            label: String::new(),
            total: 0,
            started: std::time::Instant::now(),
            last_line: std::time::Instant::now(),
            tenths: 0,
        });
        Bar { bar: indicatif::ProgressBar::hidden(), json, plain }
    }
}

impl coinfer_pipeline::Progress for Bar {
    fn start(&mut self, label: &str, total: u64) {
        if let Some(p) = &mut self.plain {
            let now = std::time::Instant::now();
            *p = PlainLines { label: label.into(), total, started: now, last_line: now, tenths: 0 };
            eprintln!("{label}: 0/{total}");
            return;
        }
        self.bar = progress_bar(total, label, self.json);
    }
    fn set(&mut self, done: u64) {
        if let Some(p) = &mut self.plain {
            let tenths = (done * 10).checked_div(p.total).unwrap_or(0);
            if tenths > p.tenths || p.last_line.elapsed().as_secs() >= 60 {
                (p.tenths, p.last_line) = (tenths, std::time::Instant::now());
                let elapsed = p.started.elapsed().as_secs_f64();
                eprintln!("{}: {done}/{} after {elapsed:.0} s", p.label, p.total);
            }
            return;
        }
        self.bar.set_position(done);
    }
    fn finish(&mut self) {
        if let Some(p) = &self.plain {
            eprintln!("{}: done in {:.1} s", p.label, p.started.elapsed().as_secs_f64());
            return;
        }
        self.bar.finish_and_clear();
    }
    fn status(&mut self, label: &str) {
        if let Some(p) = &mut self.plain {
            p.label = label.to_string();
            return;
        }
        self.bar.set_message(label.to_string());
    }
    fn note(&mut self, line: &str) {
        tracing::info!("{line}");
        if self.plain.is_some() {
            eprintln!("{line}");
        } else if !self.json {
            self.bar.println(line);
        }
    }
}
