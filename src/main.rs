//! `invscale`: the native command-line evaluator. A thin shell over the library: arguments
//! become a typed configuration, errors are printed once, on one line, with a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use burn::tensor::Device;
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use invscale::checkpoint::{self, Checkpoint, Folder};
use invscale::evaluation::{check_model_names, Evaluation};
use invscale::hub::download;
use invscale::hub::{pick_data_file, HubRef, DEFAULT_HUB};
use invscale::model::Precision;
use invscale::report::{ModelOrigin, ModelReport, ModelSummary, ResultsBundle, RunSummary, Timing, Trends};
use invscale::reproduce::{self, Comparison, Published};
use invscale::run::{self, run_task, Control, ExampleResult, RunOptions};
use invscale::score::Truncation;
use invscale::stats::trend::{Shape, Trend};
use invscale::task::{logodds_class_warnings, parse_task, FewShot, TaskSpec, TaskType, MAX_TASK_BYTES};

#[derive(Parser)]
#[command(name = "invscale", version, about = "Score Inverse Scaling Prize tasks on GPT-2 models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Score a task with one or more models and write the pipeline's result CSVs.
    Eval(EvalArgs),
    /// Score the tasks for which the prize's pipeline published GPT-2 results and print ours
    /// beside theirs (downloads the GPT-2 models from the Hub once).
    Reproduce(ReproduceArgs),
}

#[derive(clap::Args)]
struct ReproduceArgs {
    /// Published results to reproduce (JSON as models/published.json); default: that file.
    #[arg(long)]
    published: Option<PathBuf>,
    /// Where the task files are, a URL or a folder; default: the published file's `data`.
    #[arg(long)]
    data: Option<String>,
    /// Only the task with this name.
    #[arg(long)]
    only: Option<String>,
    /// A server with the Hugging Face Hub's URL layout, for the models.
    #[arg(long, default_value = DEFAULT_HUB)]
    hub: String,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Also write the comparison as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Task file in the prize format (CSV, JSONL or JSON), or `hub:<dataset id>[@revision]`
    /// for a dataset on the Hub.
    #[arg(long)]
    task: String,
    /// A server with the Hugging Face Hub's URL layout, for `hub:` tasks and models.
    #[arg(long, default_value = DEFAULT_HUB)]
    hub: String,
    /// Task type; inferred from the columns when omitted.
    #[arg(long = "type", value_parser = TaskType::parse_name)]
    task_type: Option<TaskType>,
    /// Model folder with config.json, model.safetensors (or pytorch_model.bin) and
    /// tokenizer.json (or vocab.json + merges.txt), `hub:<repo>[@revision]` to download those
    /// from the Hub once, or a registry name (`gpt2-medium`, `pythia-160m@step3000`) (repeatable).
    #[arg(long = "model", required_unless_present = "families")]
    models: Vec<String>,
    /// Every model of a family in the registry, smallest first: gpt2, pythia, opt, gpt-neo
    /// (repeatable; after the `--model`s).
    #[arg(long = "family")]
    families: Vec<String>,
    /// Output folder: one `<model>.csv` per model and `summary.json`.
    #[arg(long)]
    out: PathBuf,
    /// Also write `results.json`: the settings, every model's report with one row per example,
    /// and the trends, in the schema of the page's export.
    #[arg(long)]
    bundle: bool,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// keep-scored: drop tokens from the left of over-long inputs and flag them;
    /// pipeline: the prize pipeline's right truncation at 1023 tokens.
    #[arg(long, value_enum, default_value_t = TruncationArg::KeepScored)]
    truncation: TruncationArg,
    /// Precede each prompt with this many other examples of the task and their answers.
    #[arg(long, value_name = "K", default_value_t = 0)]
    few_shot: usize,
    /// Seed of the few-shot draw and of numeric tasks' samples: the same seed, the same run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Storage of the weight matrices: f32 (the reference's numbers) or f16 (half the
    /// memory; arithmetic stays float32; the numbers move slightly, see the README).
    #[arg(long, default_value = "f32", value_parser = parse_precision)]
    precision: Precision,
}

fn parse_precision(name: &str) -> Result<Precision, String> {
    Precision::from_name(name).ok_or_else(|| format!("`{name}` is not a precision (expected f32 or f16)"))
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// Burn's pure-Rust CPU backend (flex).
    Cpu,
    /// The GPU through wgpu (Vulkan, Metal or DX12).
    Wgpu,
}

#[derive(Clone, Copy, ValueEnum)]
enum TruncationArg {
    KeepScored,
    Pipeline,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Eval(args) => eval(args),
        Command::Reproduce(args) => reproduce(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn device(backend: Backend) -> Result<Device> {
    match backend {
        Backend::Cpu => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => Device::wgpu_options().init().context("no usable GPU through wgpu"),
        #[cfg(not(feature = "wgpu"))]
        Backend::Wgpu => bail!("this build of invscale has no wgpu support (build with --features wgpu)"),
    }
}

/// Passes scored at once: one per core on the CPU (its element-wise kernels use one core
/// each); one on a GPU, which runs a pass's kernels in parallel itself.
fn threads(backend: Backend) -> usize {
    match backend {
        Backend::Cpu => std::thread::available_parallelism().map_or(1, |n| n.get()),
        Backend::Wgpu => 1,
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn eval(args: EvalArgs) -> Result<()> {
    let truncation = match args.truncation {
        TruncationArg::KeepScored => Truncation::KeepScored,
        TruncationArg::Pipeline => Truncation::Pipeline,
    };
    let mut models = args.models.clone();
    for family in &args.families {
        match reproduce::family_models(family)? {
            Some(names) => models.extend(names),
            None => bail!("`--family {family}`: the registry has no such family; it lists {}", reproduce::families()?.join(", ")),
        }
    }
    // Registry names (`gpt2-medium`, `pythia-160m@step3000`) are Hub models; a folder of that name wins.
    let models = models
        .iter()
        .map(|m| if Path::new(m).exists() { Ok(m.clone()) } else { reproduce::model_spec(m) })
        .collect::<Result<Vec<_>, _>>()?;
    let names = models.iter().map(|spec| model_name(spec)).collect::<Result<Vec<_>>>()?;
    check_model_names(&names)?;
    let (task_name, task_bytes) = read_task(&args.task, &args.hub)?;
    let spec = TaskSpec { task_type: args.task_type, few_shot: Some(FewShot { shots: args.few_shot, seed: args.seed }) };
    let task = spec.load(&task_bytes).with_context(|| task_name.clone())?;
    let shots = spec.shots();
    for warning in task.warnings.iter().take(5) {
        eprintln!("warning: {task_name}: {warning}");
    }
    if task.warnings.len() > 5 {
        eprintln!("warning: … and {} more", task.warnings.len() - 5);
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create {}", args.out.display()))?;
    let device = device(args.backend)?;
    args.precision.check_on(&device)?;

    let options = RunOptions { truncation, seed: args.seed, threads: threads(args.backend), ..RunOptions::default() };
    let mut evaluation = Evaluation::new(task.clone());
    let mut timings = Vec::new();
    for (spec, name) in models.iter().zip(names) {
        let loading = std::time::Instant::now();
        let checkpoint = load_model(spec, &args.hub, &device, args.precision)?;
        let load_seconds = loading.elapsed().as_secs_f64();
        let class_warnings = logodds_class_warnings(&task, &checkpoint.tokenizer).with_context(|| format!("{name}: {task_name}"))?;
        for warning in class_warnings.iter().take(5) {
            eprintln!("warning: {name}: {warning}");
        }
        if class_warnings.len() > 5 {
            eprintln!("warning: {name}: … and {} more classes of several tokens", class_warnings.len() - 5);
        }
        // Where the model came from, for the summary and the trends through training.
        let source = HubRef::parse(spec).and_then(Result::ok).map_or_else(ModelOrigin::default, |hub| ModelOrigin::hub(&hub));
        let start = std::time::Instant::now();
        let csv = with_progress(&name, task.examples.len(), |progress| {
            pollster::block_on(evaluation.run(&name, source, &checkpoint, options.clone(), progress)).map(|scored| scored.csv(&task))
        })
        .with_context(|| format!("{name}: {task_name}"))?;
        let csv_path = args.out.join(format!("{name}.csv"));
        std::fs::write(&csv_path, csv).with_context(|| format!("cannot write {}", csv_path.display()))?;
        let seconds = start.elapsed().as_secs_f64();
        timings.push(Timing { load_seconds, score_seconds: seconds, workers: Some(options.threads.max(1)), ..Timing::default() });
        let work = run::work(&checkpoint, &task, &options)?;
        let per_example = |tokens: usize| tokens as f64 / work.examples.max(1) as f64;
        eprintln!(
            "{name}: {} examples in {seconds:.1} s ({:.2} examples/s, {:.0} tokens/s) in {} passes; read {} tokens, {:.1} per example \
             (the pipeline reads {}, {:.1} per example)",
            work.examples,
            work.examples as f64 / seconds,
            work.tokens as f64 / seconds,
            work.passes,
            work.tokens,
            per_example(work.tokens),
            work.pipeline_tokens,
            per_example(work.pipeline_tokens)
        );
    }

    let summary = RunSummary::new(&task_name, &task, truncation, shots, args.precision, evaluation.summaries(), evaluation.trends());
    let summary_path = args.out.join("summary.json");
    std::fs::write(&summary_path, serde_json::to_string_pretty(&summary)? + "\n")
        .with_context(|| format!("cannot write {}", summary_path.display()))?;
    if args.bundle {
        let backend = match args.backend {
            Backend::Cpu => "cpu",
            Backend::Wgpu => "wgpu",
        };
        let Trends { trend, family_trends, training_trends } = evaluation.trends();
        let bundle = ResultsBundle {
            task: task_name.clone(),
            task_type: task.task_type.name().to_string(),
            examples: task.examples.len(),
            truncation: truncation.name().to_string(),
            few_shot: shots,
            backend: backend.to_string(),
            workers: options.threads.max(1),
            precision: args.precision.name().to_string(),
            complete: true,
            models: evaluation
                .models()
                .iter()
                .zip(timings)
                .map(|(m, timing)| ModelReport { timing: Some(timing), ..m.report(&task) })
                .collect(),
            partial_models: Vec::new(),
            trend,
            comparison: Vec::new(),
            family_trends,
            training_trends,
        };
        let bundle_path = args.out.join("results.json");
        std::fs::write(&bundle_path, bundle.to_json() + "\n").with_context(|| format!("cannot write {}", bundle_path.display()))?;
    }
    print_table(&summary);
    Ok(())
}

/// Loads one model, downloading a `hub:` one first.
fn load_model(spec: &str, hub: &str, device: &Device, precision: Precision) -> Result<Checkpoint> {
    load_checkpoint(&model_folder(spec, hub)?, device, precision)
}

/// Runs `score` with a progress bar over `total` examples, which `score` advances through the
/// callback it is given.
fn with_progress<T>(name: &str, total: usize, score: impl FnOnce(&mut dyn FnMut(&ExampleResult, usize) -> Control) -> T) -> T {
    let bar = ProgressBar::new(total as u64).with_message(name.to_string());
    bar.set_style(
        ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len} examples, {per_sec}, eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let outcome = score(&mut |_, done| {
        bar.set_position(done as u64);
        Control::Continue
    });
    bar.finish_and_clear();
    outcome
}

fn reproduce(args: ReproduceArgs) -> Result<()> {
    let published = match &args.published {
        Some(path) => Published::from_json(&String::from_utf8_lossy(&read(path)?)),
        None => Published::from_json(reproduce::PUBLISHED_JSON),
    }?;
    let data = args.data.clone().unwrap_or(published.data.clone());
    let device = device(args.backend)?;
    let mut comparisons = Vec::new();
    for entry in published.tasks.iter().filter(|t| args.only.as_ref().is_none_or(|o| *o == t.name)) {
        let location = reproduce::task_location(&data, &entry.file);
        let bytes = if location.starts_with("http://") || location.starts_with("https://") {
            download::get(&location, MAX_TASK_BYTES as u64).with_context(|| format!("cannot download {location}"))?
        } else {
            read(Path::new(&location))?
        };
        let task_type = TaskType::parse_name(&entry.task_type)?;
        let task = parse_task(&bytes, Some(task_type)).with_context(|| location.clone())?;
        for published in &entry.models {
            let spec = reproduce::model_spec(&published.model)?;
            let name = model_name(&spec)?;
            let checkpoint = load_model(&spec, &args.hub, &device, Precision::F32)?;
            // The pipeline's own truncation, so every number is comparable with theirs.
            let options = RunOptions { truncation: Truncation::Pipeline, threads: threads(args.backend), ..RunOptions::default() };
            let results =
                with_progress(&name, task.examples.len(), |progress| pollster::block_on(run_task(&checkpoint, &task, options, progress)))
                    .with_context(|| format!("{name}: {}", entry.name))?;
            let ours = ModelSummary::of(&published.model, checkpoint.config.parameter_count(), &task, &results).stats;
            comparisons.push(Comparison {
                task: entry.name.clone(),
                model: published.model.clone(),
                loss: ours.value.mean,
                published_loss: published.loss,
                accuracy: ours.accuracy.map(|a| a.mean),
                published_accuracy: published.accuracy,
            });
        }
    }
    if comparisons.is_empty() {
        bail!("no published task is named `{}`", args.only.unwrap_or_default());
    }
    println!("{:<20} {:<16} {:>10} {:>10} {:>9} {:>10} {:>10}", "task", "model", "loss", "published", "diff", "accuracy", "published");
    let fmt = |x: Option<f64>, digits: usize| x.map_or("-".to_string(), |x| format!("{x:.digits$}"));
    for c in &comparisons {
        println!(
            "{:<20} {:<16} {:>10.3} {:>10.3} {:>+9.3} {:>10} {:>10}",
            c.task,
            c.model,
            c.loss,
            c.published_loss,
            c.loss - c.published_loss,
            fmt(c.accuracy, 3),
            fmt(c.published_accuracy, 3)
        );
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&comparisons)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// The task's name (its path, or the Hub dataset and file) and bytes.
fn read_task(spec: &str, hub: &str) -> Result<(String, Vec<u8>)> {
    let Some(dataset) = HubRef::parse(spec) else {
        return Ok((spec.to_string(), read(Path::new(spec))?));
    };
    let dataset = dataset?;
    let tree = download::get(&dataset.tree_url(hub), 64 << 20).with_context(|| format!("cannot list the files of {dataset}"))?;
    let file = pick_data_file(&tree, dataset.file.as_deref()).with_context(|| dataset.to_string())?;
    let name = if dataset.file.is_some() { dataset.to_string() } else { format!("{dataset}/{}", file.path) };
    eprintln!("task: {name} ({} bytes)", file.size);
    let bytes =
        download::get(&dataset.resolve_url(hub, &file.path), MAX_TASK_BYTES as u64).with_context(|| format!("cannot download {name}"))?;
    Ok((name, bytes))
}

/// A local model folder, or a Hub model's folder in the download cache (fetched if missing).
fn model_folder(spec: &str, hub: &str) -> Result<PathBuf> {
    let Some(model) = HubRef::parse(spec) else {
        return Ok(PathBuf::from(spec));
    };
    let model = model?;
    if model.file.is_some() {
        bail!("`{spec}`: a model is a whole repository (hub:<owner>/<name>[@revision]); `:<file>` names a file of a task dataset");
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {bytes}/{total_bytes}, {bytes_per_sec}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let dir = download::model_folder(&model, hub, &download::cache_dir(), |file, done, total| {
        bar.set_message(format!("{model}: {file}"));
        bar.set_length(total.unwrap_or(done));
        bar.set_position(done);
    })
    .with_context(|| format!("cannot download {model}"))?;
    bar.finish_and_clear();
    Ok(dir)
}

/// Streams the folder's weights from disk, so only one tensor at a time is in memory.
fn load_checkpoint(dir: &Path, device: &Device, precision: Precision) -> Result<Checkpoint> {
    let loaded = pollster::block_on(checkpoint::load(&Folder::new(dir), device, precision, |_| {}));
    loaded.with_context(|| format!("cannot load the model in {}", dir.display()))
}

/// The last path component of a model folder (or of a Hub id) names its result file.
fn model_name(spec: &str) -> Result<String> {
    if let Some(model) = HubRef::parse(spec) {
        let model = model?;
        return Ok(model.result_name());
    }
    let dir = Path::new(spec);
    let canonical = dir.canonicalize().with_context(|| format!("model folder {} does not exist", dir.display()))?;
    match canonical.file_name().and_then(|n| n.to_str()) {
        Some(name) => Ok(name.to_string()),
        None => bail!("cannot name the model at {}", dir.display()),
    }
}

/// A verdict with how often the bootstrap reaches it and the others.
fn describe(t: &Trend) -> String {
    let support: Vec<String> = Shape::ALL
        .iter()
        .filter(|&&s| s != t.verdict && t.support.of(s) > 0.0)
        .map(|&s| format!("{} {:.0}%", s.name(), 100.0 * t.support.of(s)))
        .collect();
    let others = if support.is_empty() { String::new() } else { format!("; other replicates: {}", support.join(", ")) };
    format!("{} (in {:.0}% of {} bootstrap replicates{others})", t.verdict.name(), 100.0 * t.confidence, t.replicates)
}

fn print_table(summary: &RunSummary) {
    println!("{} ({}, {} examples, truncation {})", summary.task, summary.task_type, summary.examples, summary.truncation);
    let metric = summary.models.first().map_or("loss", |m| &m.stats.metric);
    println!("{:<20} {:>12} {:>26} {:>18} {:>9}", "model", "parameters", format!("mean {metric} ± sem"), "accuracy ± sem", "coverage");
    for m in &summary.models {
        let s = &m.stats;
        let accuracy = s.accuracy.map_or("-".into(), |a| format!("{:.3} ± {:.3}", a.mean, a.sem));
        let coverage = s.coverage.map_or("-".into(), |c| format!("{c:.4}"));
        println!(
            "{:<20} {:>12} {:>26} {:>18} {:>9}",
            m.name,
            m.parameters,
            if s.value.mean.is_nan() { "-".to_string() } else { format!("{:.4} ± {:.4}", s.value.mean, s.value.sem) },
            accuracy,
            coverage
        );
    }
    if let Some(s) = summary.models.first().map(|m| &m.stats) {
        let mut chance = Vec::new();
        if let Some(l) = s.chance_loss {
            chance.push(format!("loss {l:.4}"));
        }
        if let Some(a) = s.chance_accuracy {
            chance.push(format!("accuracy {a:.3}"));
        }
        if !chance.is_empty() {
            println!("chance: {}", chance.join(", "));
        }
        let trends = &summary.trends;
        if let Some(t) = &trends.trend {
            println!("trend: {}", describe(t));
        }
        for f in &trends.family_trends {
            println!("trend among {}: {}", f.family, describe(&f.trend));
        }
        for t in &trends.training_trends {
            println!("trend of {} over training steps: {}", t.model, describe(&t.trend));
        }
        for m in summary.models.iter().filter(|m| m.stats.without_estimate.is_some_and(|n| n > 0)) {
            let n = m.stats.without_estimate.unwrap_or(0);
            println!("note: {}: {n} example(s) had no number in any sample and are left out of the mean", m.name);
        }
        let truncated: usize = summary.models.iter().map(|m| m.stats.truncated).max().unwrap_or(0);
        if truncated > 0 {
            println!("note: {truncated} example(s) were longer than the model's context and were truncated ({})", summary.truncation);
        }
    }
}
