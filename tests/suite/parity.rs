//! Every task type × every fixture model × both truncation modes: per-example numbers within
//! 1e-4 of the reference (HF transformers following the prize pipeline, computed by
//! `scripts/make_fixtures.py`), identical `correct` / `predicted` / truncation flags.

use crate::common;

use burn::tensor::Device;
use invscale::run::{run_task, Control, ExampleResult, RunOptions};
use invscale::score::{Metrics, Truncation};
use invscale::task::{parse_task, Task};
use serde_json::Value;

const TOLERANCE: f64 = 1e-4;

fn reference() -> Value {
    serde_json::from_slice(&common::read(common::fixtures().join("reference.json"))).expect("reference.json")
}

fn task(file: &str, task_type: &str) -> Task {
    let forced = invscale::task::TaskType::from_name(task_type);
    parse_task(&common::read(common::fixtures().join("tasks").join(file)), forced).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn close(what: &str, ours: f64, theirs: &Value, worst: &mut f64) {
    let theirs = theirs.as_f64().unwrap_or_else(|| panic!("{what}: reference is not a number"));
    let err = (ours - theirs).abs();
    *worst = worst.max(err);
    assert!(err <= TOLERANCE, "{what}: ours {ours}, reference {theirs}, |diff| {err:e}");
}

/// Compares one model's results with the reference rows; returns the largest difference.
fn compare(context: &str, task: &Task, ours: &[ExampleResult], rows: &[Value]) -> f64 {
    assert_eq!(ours.len(), rows.len(), "{context}: example count");
    let mut worst = 0f64;
    for (r, row) in ours.iter().zip(rows) {
        let at = format!("{context} example {}", r.index);
        assert_eq!(row["index"].as_u64(), Some(r.index as u64), "{at}: index");
        assert_eq!(row["truncated"].as_bool(), Some(r.truncated), "{at}: truncated flag");
        match &r.metrics {
            Metrics::Classification { loss, correct, predicted, total_logprob, class_logprobs } => {
                close(&format!("{at} loss"), *loss, &row["loss"], &mut worst);
                close(&format!("{at} total_logprob"), *total_logprob, &row["total_logprob"], &mut worst);
                for (j, lp) in class_logprobs.iter().enumerate() {
                    close(&format!("{at} class {j} logprob"), *lp, &row["class_logprobs"][j], &mut worst);
                }
                assert_eq!(row["correct"].as_bool(), Some(*correct), "{at}: correct");
                let classes = task.examples[r.index].kind.classes();
                assert_eq!(row["predicted"].as_str(), Some(classes[*predicted].as_str()), "{at}: predicted");
            }
            Metrics::SequenceProb { loss } => close(&format!("{at} loss"), *loss, &row["loss"], &mut worst),
            Metrics::Logodds { logodds_difference, correct, total_logprob } => {
                close(&format!("{at} logodds_difference"), *logodds_difference, &row["logodds_difference"], &mut worst);
                close(&format!("{at} total_logprob"), *total_logprob, &row["total_logprob"], &mut worst);
                assert_eq!(row["correct"].as_bool(), Some(*correct), "{at}: correct");
            }
            Metrics::Numeric { .. } => panic!("{at}: the reference has no numeric tasks (sampling is tested in tests/suite/numeric.rs)"),
        }
    }
    worst
}

/// Runs every task file of the reference on `device` and checks every number.
fn parity_on(device: &Device, backend: &str) {
    let reference = reference();
    let files = reference.as_object().expect("reference.json is an object");
    assert!(files.len() >= 7, "reference covers every task file");
    let checkpoints: Vec<_> = common::MODELS.iter().map(|m| (m, common::checkpoint(m, device))).collect();
    // By family (a model's, as its config names it) and task type.
    let mut worst_by_type = std::collections::BTreeMap::<(&str, String), f64>::new();
    for (file, entry) in files {
        let task_type = entry["task_type"].as_str().expect("task_type");
        let task = task(file, task_type);
        for (name, checkpoint) in &checkpoints {
            for truncation in [Truncation::KeepScored, Truncation::Pipeline] {
                let rows = entry["models"][**name][truncation.name()]
                    .as_array()
                    .unwrap_or_else(|| panic!("reference lacks {file} / {name} / {}", truncation.name()));
                let ours = pollster::block_on(run_task(checkpoint, &task, RunOptions { truncation, ..RunOptions::default() }, |_, _| {
                    Control::Continue
                }))
                .unwrap_or_else(|e| panic!("{file} on {name}: {e}"));
                let context = format!("[{backend}] {file} / {name} / {}", truncation.name());
                let worst = compare(&context, &task, &ours, rows);
                let slot = worst_by_type.entry((checkpoint.config.family().name(), task_type.to_string())).or_default();
                *slot = slot.max(worst);
            }
        }
    }
    for ((family, task_type), worst) in worst_by_type {
        eprintln!("[{backend}] max |ours - reference| for {family} {task_type}: {worst:.2e}");
    }
}

#[test]
fn cpu_matches_reference() {
    parity_on(&Device::flex(), "cpu");
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_matches_reference() {
    if let Some(device) = common::wgpu_device() {
        parity_on(&device, "wgpu");
    }
}
