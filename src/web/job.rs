//! The worker's job: score one task (or the worker's share of it) with several models, one
//! after another, reporting each step to the page as an [`Event`]. A model that fails is
//! reported and the next one runs; what was scored is never thrown away. The page puts the
//! shares' results together into reports (`report.rs`).

use burn::tensor::Device;
use serde::Deserialize;
use tsify::Ts;
use wasm_bindgen::prelude::*;

use super::boundary::{from_page, to_page};
use super::files::{JobModel, ModelFiles};
use super::fused_tiles;
use super::protocol::{Backend, Event, JobRequest, Running};
use crate::checkpoint::{self, read_all, Checkpoint, Progress};
use crate::evaluation::check_model_names;
use crate::model::{ModelConfig, Precision, F16_DEVIATION_ON_FIXTURES};
use crate::report::Timing;
use crate::run::{kept_in_order, run_task, Control, ExampleResult, RunError, RunOptions, Share};
use crate::task::{logodds_class_warnings, Task};

/// Posts events to the page.
struct Events(js_sys::Function);

impl Events {
    fn post(&self, event: Event) {
        // Events always serialise (every number in them is below 2^53); and the page is gone
        // if the call fails: there is no one left to tell.
        if let Ok(event) = to_page(&event) {
            let _ = self.0.call1(&JsValue::NULL, &event.into());
        }
    }

    fn notice(&self, model: Option<usize>, message: String) {
        self.post(Event::Notice { model, message });
    }
}

/// Per model of a job, the results an interrupted run of it kept (as `example` events' `result`s).
#[derive(Deserialize, tsify::Tsify)]
#[serde(transparent)]
pub struct KeptResults(Vec<Vec<ExampleResult>>);

/// Runs a job. `share` is the part of the task this worker scores (workers given the same
/// request and `earlier` and different shares score each example once), `task` the task
/// file's bytes, `files` opens each model's files, `earlier` what an interrupted run of the
/// same job kept, and `post` receives every [`Event`]. Never throws: errors are events.
#[wasm_bindgen]
pub async fn run_job(
    request: Ts<JobRequest>,
    share: Ts<Share>,
    task: Vec<u8>,
    files: ModelFiles,
    earlier: Ts<KeptResults>,
    post: js_sys::Function,
) {
    let events = Events(post);
    if let Err(message) = run(request, share, &task, &files, earlier, &events).await {
        events.post(Event::Error { model: None, message });
    }
    events.post(Event::Finished);
}

async fn run(
    request: Ts<JobRequest>,
    share: Ts<Share>,
    task_bytes: &[u8],
    files: &ModelFiles,
    earlier: Ts<KeptResults>,
    events: &Events,
) -> Result<(), String> {
    let request = from_page(request, "job request").map_err(|e| e.to_string())?;
    let share = from_page(share, "share of the job").map_err(|e| e.to_string())?;
    let mut earlier = match from_page(earlier, "kept results") {
        Ok(KeptResults(kept)) => kept,
        Err(e) => {
            events.notice(None, format!("the results kept from an earlier run cannot be read ({e}); scoring from the start"));
            Vec::new()
        }
    };
    earlier.resize_with(request.models.len(), Vec::new);
    let names: Vec<&str> = request.models.iter().map(|m| m.name.as_str()).collect();
    check_model_names(&names).map_err(|e| e.to_string())?;
    let task = request.task_spec().load(task_bytes).map_err(|e| e.to_string())?;
    let device = pick_device(request.backend, events).await;
    let precision = request.precision;
    precision.check_on(&device).map_err(|e| e.to_string())?;
    if precision == Precision::F16 {
        let detail = format!(
            "Half precision: weight matrices stored in f16 (half the memory), arithmetic in float32. \
             The numbers are not the reference's: on the test fixtures they moved by up to {F16_DEVIATION_ON_FIXTURES} nats."
        );
        events.post(Event::Precision { precision: precision.name(), detail });
    }

    let options = RunOptions { truncation: request.truncation, seed: request.seed, share, ..RunOptions::default() };
    for (i, model) in request.models.iter().enumerate() {
        events.post(Event::ModelStart { model: i, name: &model.name });
        let kept = std::mem::take(&mut earlier[i]);
        match score_model(&task, files, i, &device, precision, &options, kept, events).await {
            Ok((parameters, family, timing)) => events.post(Event::ModelScored { model: i, parameters, family, timing }),
            Err(message) => events.post(Event::Error { model: Some(i), message: format!("{}: {message}", model.name) }),
        }
    }
    Ok(())
}

/// Scores this worker's share of `task` with model `i`: nothing when the kept results cover
/// the task, else loading the weights and scoring what was not kept. Returns the model's
/// parameter count, family and timing.
#[allow(clippy::too_many_arguments)]
async fn score_model(
    task: &Task,
    files: &ModelFiles,
    i: usize,
    device: &Device,
    precision: Precision,
    options: &RunOptions,
    kept: Vec<ExampleResult>,
    events: &Events,
) -> Result<(u64, &'static str, Timing), String> {
    let (restored, total) = (kept.len(), task.examples.len());
    if restored == total && kept_in_order(task, kept.clone()).is_ok() {
        // Every example was kept: the report needs the parameter count, not the weights.
        let config = read_all(&mut files.open_file(i as u32, "config.json").await?).await?;
        let config = ModelConfig::from_json(&config).map_err(|e| format!("config.json: {e}"))?;
        events.post(Event::Restored { model: i, done: restored, total });
        return Ok((config.parameter_count(), config.family().name(), Timing { restored_examples: restored, ..Timing::default() }));
    }
    let (start, memory_before_load) = (js_sys::Date::now(), wasm_memory_bytes());
    let checkpoint = load(files, i, device, precision, events).await?;
    let loaded = js_sys::Date::now();
    // Every worker loads the model; the first says what the page should know of its tokenizer.
    if options.share.index == 0 {
        for warning in logodds_class_warnings(task, &checkpoint.tokenizer).map_err(|e| e.to_string())? {
            events.notice(Some(i), warning);
        }
    }
    if restored > 0 {
        events.post(Event::Restored { model: i, done: restored, total });
    }
    let on_result = |result: &ExampleResult, _done: usize| {
        events.post(Event::Example { model: i, result });
        Control::Continue
    };
    let resumed = RunOptions { earlier: kept, ..options.clone() };
    let outcome = match run_task(&checkpoint, task, resumed, on_result).await {
        Err(RunError::Earlier(e)) if restored > 0 => {
            // Kept results that do not fit the task (an older version wrote them): start over.
            events.notice(Some(i), format!("{e}; scoring every example again"));
            events.post(Event::Discarded { model: i });
            run_task(&checkpoint, task, options.clone(), on_result).await
        }
        other => other,
    };
    outcome.map_err(|e| e.to_string())?;
    let timing = Timing {
        load_seconds: (loaded - start) / 1e3,
        score_seconds: (js_sys::Date::now() - loaded) / 1e3,
        wasm_memory_before_load_bytes: Some(memory_before_load),
        restored_examples: restored,
        ..Timing::default()
    };
    Ok((checkpoint.config.parameter_count(), checkpoint.config.family().name(), timing))
}

/// WebGPU with the adapter's own limits when the browser has it, else Burn's CPU backend.
async fn pick_device(backend: Backend, events: &Events) -> Device {
    if backend == Backend::Cpu {
        events.post(Event::Backend { backend: Running::Cpu, detail: format!("CPU (chosen), {}", fused_tiles::install()) });
        return Device::flex();
    }
    match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => {
            let info = setup.adapter.get_info();
            let limits = setup.device.limits();
            let adapter = if info.name.is_empty() { String::new() } else { format!(" on {}", info.name) };
            let detail = format!("WebGPU{adapter}, largest buffer {} MiB", limits.max_buffer_size >> 20);
            events.post(Event::Backend { backend: Running::Webgpu, detail });
            device
        }
        Err(e) => {
            let detail = format!("WebGPU is not available ({e}); scoring on the CPU, which is slower, {}", fused_tiles::install());
            events.post(Event::Backend { backend: Running::Cpu, detail });
            Device::flex()
        }
    }
}

/// Loads model `model` of the job ([`checkpoint::load`]), telling the page how its weights
/// arrive, and tells the cache which files it was read from.
async fn load(files: &ModelFiles, model: usize, device: &Device, precision: Precision, events: &Events) -> Result<Checkpoint, String> {
    let source = JobModel { files, index: model as u32 };
    let mut reported = 0u64;
    let progress = |p: Progress<'_>| {
        // A new file starts below what was reported; otherwise every 8 MiB.
        if p.loaded < reported || p.loaded - reported >= 8 << 20 {
            reported = p.loaded;
            events.post(Event::Loading { model, file: p.file, loaded: p.loaded, total: p.total });
        }
    };
    let checkpoint = checkpoint::load(&source, device, precision, progress).await.map_err(|e| e.to_string())?;
    files.loaded_from(source.index, checkpoint.files.clone()).await?;
    let (parameters, family) = (checkpoint.config.parameter_count(), checkpoint.config.family().name());
    events.post(Event::Loaded { model, parameters, family, wasm_memory_bytes: wasm_memory_bytes() });
    Ok(checkpoint)
}

/// Size of the module's linear memory: it only grows, so this is its peak so far.
fn wasm_memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64
}
