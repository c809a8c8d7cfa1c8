//! The browser side of the app. The page (`app.js`) asks the library to parse tasks
//! ([`parse_task`]) and which file of a Hub dataset holds a task ([`hub_data_file`]); a Web Worker (`worker.js`) runs [`run_job`]: it picks WebGPU or the CPU
//! fallback, streams each model's weights to the device and scores the task with the same
//! `run.rs` core as the CLI. Downloads and the model cache live in `files.js`.
//!
//! Nothing here computes a metric: numbers come from `run`, `stats` and `report`.
//!
//! `protocol` builds (and is tested) natively; the rest needs wasm-bindgen.

pub mod protocol;

#[cfg(target_family = "wasm")]
mod boundary;
#[cfg(target_family = "wasm")]
mod checksum;
#[cfg(target_family = "wasm")]
mod files;
#[cfg(target_family = "wasm")]
mod fused_tiles;
#[cfg(target_family = "wasm")]
mod half_copy;
#[cfg(target_family = "wasm")]
mod hub;
#[cfg(target_family = "wasm")]
mod job;
#[cfg(target_family = "wasm")]
mod models;
#[cfg(target_family = "wasm")]
mod report;
#[cfg(target_family = "wasm")]
mod task_view;

#[cfg(target_family = "wasm")]
pub use checksum::{JsDownloadCheck, Sha256Stream};
#[cfg(target_family = "wasm")]
pub use half_copy::HalfPrecisionCopy;
#[cfg(target_family = "wasm")]
pub use hub::{default_hub, hub_data_file, hub_dataset, hub_file_info, hub_model, hub_model_spec};
#[cfg(target_family = "wasm")]
pub use job::run_job;
#[cfg(target_family = "wasm")]
pub use models::check_model_names;
#[cfg(target_family = "wasm")]
pub use report::{results_bundle, PageEvaluation};
#[cfg(target_family = "wasm")]
pub use task_view::parse_task;
