//! The browser side of the app. The page (`app.js`) asks the library to parse tasks
//! ([`parse_task`]) and which file of a Hub dataset holds a task ([`hub_data_file`]); a Web Worker (`worker.js`) runs [`run_job`]: it picks WebGPU or the CPU
//! fallback, streams each model's weights to the device and scores the task with the same
//! `run.rs` core as the CLI. Downloads and the model cache live in `files.js`.
//!
//! Nothing here computes a metric: numbers come from `run`, `stats` and `report`.

mod checksum;
mod files;
mod half_copy;
mod hub_task;
mod job;
mod partial;
mod task_view;

pub use checksum::Sha256Stream;
pub use half_copy::HalfPrecisionCopy;
pub use hub_task::{hub_data_file, hub_dataset};
pub use job::run_job;
pub use partial::partial_report;
pub use task_view::parse_task;
