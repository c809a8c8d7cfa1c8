//! The worker's job: score one task with several models, one after another, reporting each
//! step to the page as a JSON event. A model that fails is reported and the next one runs;
//! what was scored is never thrown away.

use burn::tensor::Device;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

use super::files::ModelFiles;
use crate::checkpoint::{Checkpoint, CheckpointLoader};
use crate::report::{results_csv, run_trend, ModelReport, ModelResults, ModelSummary};
use crate::model::{Gpt2Config, Precision, F16_DEVIATION_ON_FIXTURES};
use crate::run::{kept_in_order, resume_task, Control, ExampleResult, RunError};
use crate::score::Truncation;
use crate::task::{few_shot, parse_task, FewShot, Task, TaskType};

/// What the page asks the worker to do (the `request` JSON).
#[derive(Deserialize)]
pub(super) struct JobRequest {
    task_type: Option<String>,
    #[serde(default)]
    truncation: Option<String>,
    /// `auto` (WebGPU, else the CPU) or `cpu`.
    #[serde(default)]
    backend: Option<String>,
    /// Storage of the weight matrices: `f32` (default) or `f16`.
    #[serde(default)]
    precision: Option<String>,
    /// Demonstrations before each prompt; absent for zero-shot.
    #[serde(default)]
    few_shot: Option<FewShot>,
    /// Seed of numeric tasks' samples.
    #[serde(default)]
    seed: u64,
    models: Vec<ModelRequest>,
}

#[derive(Deserialize)]
struct ModelRequest {
    name: String,
}

/// Posts events to the page.
struct Events(js_sys::Function);

impl Events {
    fn post(&self, event: Value) {
        // The page is gone if this fails; there is no one left to tell.
        let _ = self.0.call1(&JsValue::NULL, &JsValue::from_str(&event.to_string()));
    }

    fn error(&self, model: Option<usize>, message: &str) {
        self.post(json!({ "event": "error", "model": model, "message": message }));
    }
}

/// Runs a job. `request` is [`JobRequest`] JSON, `task` the task file's bytes, `files` opens
/// each model's files, `earlier` is a JSON array holding, per model, the results an
/// interrupted run of the same job kept (each as an `example` event's `result`), and `post`
/// receives every event as a JSON string. Never throws: errors are events.
#[wasm_bindgen]
pub async fn run_job(request: String, task: Vec<u8>, files: ModelFiles, earlier: String, post: js_sys::Function) {
    let events = Events(post);
    if let Err(message) = run(&request, &task, &files, &earlier, &events).await {
        events.error(None, &message);
    }
    events.post(json!({ "event": "finished" }));
}

async fn run(request: &str, task_bytes: &[u8], files: &ModelFiles, earlier: &str, events: &Events) -> Result<(), String> {
    let request: JobRequest = serde_json::from_str(request).map_err(|e| format!("bad job request: {e}"))?;
    let mut earlier: Vec<Vec<ExampleResult>> = match serde_json::from_str(earlier) {
        Ok(kept) => kept,
        Err(e) => {
            events.post(json!({ "event": "notice", "model": null, "message": format!("the results kept from an earlier run cannot be read ({e}); scoring from the start") }));
            Vec::new()
        }
    };
    earlier.resize_with(request.models.len(), Vec::new);
    let truncation = match request.truncation.as_deref() {
        None | Some("keep-scored") => Truncation::KeepScored,
        Some("pipeline") => Truncation::Pipeline,
        Some(other) => return Err(format!("unknown truncation `{other}` (expected keep-scored or pipeline)")),
    };
    let precision = match request.precision.as_deref() {
        None => Precision::F32,
        Some(name) => Precision::from_name(name).ok_or_else(|| format!("unknown precision `{name}` (expected f32 or f16)"))?,
    };
    let task = job_task(&request, task_bytes)?;
    let device = pick_device(request.backend.as_deref() == Some("cpu"), events).await;
    if !precision.supported_on(&device) {
        return Err("half precision needs WebGPU's `shader-f16` feature, which this adapter lacks: choose float32, or the CPU backend".into());
    }
    if precision == Precision::F16 {
        let detail = format!(
            "Half precision: weight matrices stored in f16 (half the memory), arithmetic in float32. \
             The numbers are not the reference's: on the test fixtures they moved by up to {F16_DEVIATION_ON_FIXTURES} nats."
        );
        events.post(json!({ "event": "precision", "precision": precision.name(), "detail": detail }));
    }

    // Each finished model's results, for the trend across sizes.
    let mut finished: Vec<(String, u64, Vec<ExampleResult>)> = Vec::new();
    for (i, model) in request.models.iter().enumerate() {
        events.post(json!({ "event": "model_start", "model": i, "name": model.name }));
        let outcome = async {
            let kept = std::mem::take(&mut earlier[i]);
            let restored = kept.len();
            if restored == task.examples.len() {
                if let Ok(results) = kept_in_order(&task, kept.clone()) {
                    // Every example was kept: the report needs the parameter count, not the weights.
                    let config = files.open_file(i as u32, "config.json").await?.read_all().await?;
                    let parameters = Gpt2Config::from_json(&config).map_err(|e| format!("config.json: {e}"))?.parameter_count();
                    events.post(json!({ "event": "restored", "model": i, "done": restored, "total": restored }));
                    let report = ModelReport::new(ModelSummary::of(&model.name, parameters, &task, &results), &task, &results);
                    let csv = results_csv(&task, &results);
                    let timing = json!({ "load_seconds": 0, "score_seconds": 0, "restored_examples": restored });
                    return Ok((results, report, csv, timing));
                }
            }
            let (start, memory_before_load) = (js_sys::Date::now(), wasm_memory_bytes());
            let checkpoint = load(files, i, &device, precision, events).await?;
            let loaded = js_sys::Date::now();
            let (results, report, csv) = score(&checkpoint, &model.name, &task, truncation, request.seed, kept, i, events).await?;
            let timing = json!({
                "load_seconds": (loaded - start) / 1e3,
                "score_seconds": (js_sys::Date::now() - loaded) / 1e3,
                "wasm_memory_before_load_bytes": memory_before_load,
                // Examples taken from an interrupted run rather than scored now.
                "restored_examples": restored,
            });
            Ok::<_, String>((results, report, csv, timing))
        }
        .await;
        match outcome {
            Ok((results, report, csv, timing)) => {
                events.post(json!({
                    "event": "model_done", "model": i, "report": report, "csv": csv, "timing": timing,
                }));
                finished.push((model.name.clone(), report.summary.parameters, results));
                let runs: Vec<ModelResults> = finished
                    .iter()
                    .map(|(name, parameters, results)| ModelResults { name, parameters: *parameters, results })
                    .collect();
                if let Some(trend) = run_trend(&runs) {
                    events.post(json!({ "event": "trend", "trend": trend }));
                }
            }
            Err(message) => events.error(Some(i), &format!("{}: {message}", model.name)),
        }
    }
    Ok(())
}

/// The task as the job scores it: parsed as the request says, with its few-shot prompts.
pub(super) fn job_task(request: &JobRequest, task_bytes: &[u8]) -> Result<Task, String> {
    let forced = match request.task_type.as_deref().filter(|t| !t.is_empty()) {
        Some(name) => Some(TaskType::parse_name(name)?),
        None => None,
    };
    let task = parse_task(task_bytes, forced).map_err(|e| e.to_string())?;
    match request.few_shot.filter(|s| s.shots > 0) {
        Some(settings) => few_shot(&task, settings).map_err(|e| e.to_string()),
        None => Ok(task),
    }
}

/// WebGPU with the adapter's own limits when the browser has it, else Burn's CPU backend.
async fn pick_device(cpu_only: bool, events: &Events) -> Device {
    if cpu_only {
        events.post(json!({ "event": "backend", "backend": "cpu", "detail": "CPU (chosen)" }));
        return Device::flex();
    }
    match Device::wgpu_options().init_with_setup_async().await {
        Ok((device, setup)) => {
            let info = setup.adapter.get_info();
            let limits = setup.device.limits();
            let adapter = if info.name.is_empty() { String::new() } else { format!(" on {}", info.name) };
            let detail = format!("WebGPU{adapter}, largest buffer {} MiB", limits.max_buffer_size >> 20);
            events.post(json!({ "event": "backend", "backend": "webgpu", "detail": detail }));
            device
        }
        Err(e) => {
            let detail = format!("WebGPU is not available ({e}); scoring on the CPU, which is slower");
            events.post(json!({ "event": "backend", "backend": "cpu", "detail": detail }));
            Device::flex()
        }
    }
}

/// Reads config and tokenizer, then streams the weights chunk by chunk to the device.
async fn load(files: &ModelFiles, model: usize, device: &Device, precision: Precision, events: &Events) -> Result<Checkpoint, String> {
    let index = model as u32;
    let config = files.open_file(index, "config.json").await?.read_all().await?;
    let tokenizer = files.open_file(index, "tokenizer.json").await?.read_all().await?;
    let mut loader = CheckpointLoader::new(&config, &tokenizer, device, precision).map_err(|e| e.to_string())?;
    let weights = files.open_file(index, "model.safetensors").await?;
    let total = weights.size_bytes();
    let mut loaded = 0u64;
    let mut reported = 0u64;
    while let Some(chunk) = weights.next_chunk().await? {
        loader.push(&chunk).map_err(|e| format!("model.safetensors: {e}"))?;
        loaded += chunk.len() as u64;
        if loaded - reported >= 8 << 20 {
            reported = loaded;
            events.post(json!({ "event": "loading", "model": model, "loaded": loaded, "total": total }));
        }
    }
    let checkpoint = loader.finish().map_err(|e| format!("model.safetensors: {e}"))?;
    events.post(json!({
        "event": "loaded", "model": model, "parameters": checkpoint.config.parameter_count(),
        "wasm_memory_bytes": wasm_memory_bytes(),
    }));
    Ok(checkpoint)
}

#[allow(clippy::too_many_arguments)]
async fn score(
    checkpoint: &Checkpoint,
    name: &str,
    task: &Task,
    truncation: Truncation,
    seed: u64,
    kept: Vec<ExampleResult>,
    model: usize,
    events: &Events,
) -> Result<(Vec<ExampleResult>, ModelReport, String), String> {
    let total = task.examples.len();
    let restored = kept.len();
    if restored > 0 {
        events.post(json!({ "event": "restored", "model": model, "done": restored, "total": total }));
    }
    let on_result = |result: &ExampleResult, done: usize| {
        // `example` events are kept by the worker, so a run cut short resumes from here.
        events.post(json!({ "event": "example", "model": model, "result": result }));
        events.post(json!({ "event": "progress", "model": model, "done": done, "total": total }));
        Control::Continue
    };
    let results = match resume_task(checkpoint, task, truncation, seed, kept, on_result).await {
        Err(RunError::Earlier(e)) if restored > 0 => {
            // Kept results that do not fit the task (an older version wrote them): start over.
            events.post(json!({ "event": "notice", "model": model, "message": format!("{e}; scoring every example again") }));
            resume_task(checkpoint, task, truncation, seed, Vec::new(), on_result).await
        }
        other => other,
    }
    .map_err(|e| e.to_string())?;
    let summary = ModelSummary::of(name, checkpoint.config.parameter_count(), task, &results);
    let report = ModelReport::new(summary, task, &results);
    let csv = results_csv(task, &results);
    Ok((results, report, csv))
}

/// Size of the module's linear memory: it only grows, so this is its peak so far.
fn wasm_memory_bytes() -> f64 {
    let memory: js_sys::WebAssembly::Memory = wasm_bindgen::memory().unchecked_into();
    memory.buffer().unchecked_into::<js_sys::ArrayBuffer>().byte_length() as f64
}
