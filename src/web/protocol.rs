//! The worker's protocol: what the page asks ([`JobRequest`], with each worker's
//! [`Share`](crate::run::Share)) and what the job tells it ([`Event`], tagged by `event`). `app.js` has one handler per event; `worker.js` adds
//! the events only JavaScript sees (`download`, `device_lost`, `gpu_error`, `trap`).

use serde::{Deserialize, Serialize};

use crate::model::Precision;
use crate::report::Timing;
use crate::run::ExampleResult;
use crate::score::Truncation;
use crate::task::{FewShot, TaskSpec, TaskType};

/// What the page asks the worker to do. Its settings also key the results the page keeps, so
/// its shape stays as it is.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, Deserialize)]
pub struct JobRequest {
    /// The type to score the task as; absent (or null) infers it from the columns.
    #[serde(default)]
    pub task_type: Option<TaskType>,
    #[serde(default)]
    pub truncation: Truncation,
    #[serde(default)]
    pub backend: Backend,
    #[serde(default)]
    pub precision: Precision,
    /// Demonstrations before each prompt; absent for zero-shot.
    #[serde(default)]
    pub few_shot: Option<FewShot>,
    /// Seed of numeric tasks' samples.
    #[serde(default)]
    pub seed: u64,
    pub models: Vec<ModelRequest>,
}

impl JobRequest {
    pub fn task_spec(&self) -> TaskSpec {
        TaskSpec { task_type: self.task_type, few_shot: self.few_shot }
    }
}

#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, Deserialize)]
pub struct ModelRequest {
    pub name: String,
}

/// Where the job may score.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// WebGPU when the browser has it, else the CPU.
    #[default]
    Auto,
    Cpu,
}

/// The backend a job runs on, as the page names it.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Running {
    Webgpu,
    Cpu,
}

/// One step of a job. `model` is the model's position in the request.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    Backend {
        backend: Running,
        detail: String,
    },
    /// Sent when the weights are not float32, with what that means for the numbers.
    Precision {
        precision: &'static str,
        detail: String,
    },
    ModelStart {
        model: usize,
        name: &'a str,
    },
    Loading {
        model: usize,
        /// The weights file (or shard) being read.
        file: &'a str,
        loaded: u64,
        total: Option<u64>,
    },
    Loaded {
        model: usize,
        parameters: u64,
        /// `GPT-2`, `OPT`, … (the config's family).
        family: &'static str,
        wasm_memory_bytes: f64,
    },
    /// Examples taken from an interrupted run instead of being scored again.
    Restored {
        model: usize,
        done: usize,
        total: usize,
    },
    /// The page keeps each result, so a run cut short resumes from it.
    Example {
        model: usize,
        result: &'a ExampleResult,
    },
    /// The kept results did not fit the task and are scored again: the page drops them.
    Discarded {
        model: usize,
    },
    /// This worker's share of the model is scored (the page puts the shares' results together).
    ModelScored {
        model: usize,
        parameters: u64,
        family: &'static str,
        timing: Timing,
    },
    Notice {
        model: Option<usize>,
        message: String,
    },
    Error {
        model: Option<usize>,
        message: String,
    },
    Finished,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_request_reads_as_typed_settings() {
        let json = r#"{"task_type":"logodds","truncation":"pipeline","backend":"cpu","precision":"f16",
            "few_shot":{"shots":2,"seed":7},"seed":3,"models":[{"name":"gpt2"}]}"#;
        let request: JobRequest = serde_json::from_str(json).unwrap();
        assert_eq!(request.task_type, Some(TaskType::Logodds));
        assert_eq!((request.truncation, request.backend, request.precision), (Truncation::Pipeline, Backend::Cpu, Precision::F16));
        assert_eq!(request.task_spec().few_shot, Some(FewShot { shots: 2, seed: 7 }));
        let defaults: JobRequest = serde_json::from_str(r#"{"task_type":null,"few_shot":null,"models":[]}"#).unwrap();
        assert_eq!((defaults.truncation, defaults.backend, defaults.precision), (Truncation::KeepScored, Backend::Auto, Precision::F32));
        assert!(serde_json::from_str::<JobRequest>(r#"{"precision":"f8","models":[]}"#).is_err());
    }

    #[test]
    fn events_are_tagged_with_their_name() {
        let restored = serde_json::to_value(Event::Restored { model: 1, done: 2, total: 3 }).unwrap();
        assert_eq!(restored, serde_json::json!({ "event": "restored", "model": 1, "done": 2, "total": 3 }));
        assert_eq!(serde_json::to_value(Event::Finished).unwrap(), serde_json::json!({ "event": "finished" }));
        let backend = serde_json::to_value(Event::Backend { backend: Running::Webgpu, detail: "x".into() }).unwrap();
        assert_eq!(backend["backend"], "webgpu");
    }
}
