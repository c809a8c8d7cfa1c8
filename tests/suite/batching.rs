//! Prefix sharing and batching change nothing: every fixture task scored one example per
//! pass without sharing (the plain path) equals the same task scored with shared prefixes,
//! with many examples per pass, and with the LM head split into small chunks, within 1e-5
//! nats plus float32 rounding of the value (1e-6 of it: the random fixture models give
//! log-probs of -40 nats, where one float32 step is 4e-6); `correct`, `predicted` and
//! truncation flags are identical.

use crate::common;

use burn::tensor::Device;
use invscale::checkpoint::Checkpoint;
use invscale::run::{run_task, Control, ExampleResult, RunOptions};
use invscale::score::{self, Batching, Metrics, Truncation};
use invscale::task::{parse_task, Task, TaskType};

const TOLERANCE: f64 = 1e-5;
const RELATIVE: f64 = 1e-6;

const TASKS: [(&str, &str); 7] = [
    ("classification.csv", "classification"),
    ("classification_crlf.csv", "classification"),
    ("classification.jsonl", "classification"),
    ("long_prompt.csv", "classification"),
    ("sequence_prob.csv", "sequence_prob"),
    ("logodds.csv", "logodds"),
    ("absolute_logodds.csv", "absolute_logodds"),
];

fn task(file: &str, task_type: &str) -> Task {
    parse_task(&common::read(common::fixtures().join("tasks").join(file)), TaskType::from_name(task_type)).unwrap()
}

/// The numbers of a result, and what must match exactly.
fn numbers(result: &ExampleResult) -> (Vec<f64>, Vec<usize>) {
    match &result.metrics {
        Metrics::Classification { loss, correct, predicted, total_logprob, class_logprobs } => {
            let mut values = vec![*loss, *total_logprob];
            values.extend(class_logprobs);
            (values, vec![usize::from(*correct), *predicted, usize::from(result.truncated)])
        }
        Metrics::SequenceProb { loss } => (vec![*loss], vec![usize::from(result.truncated)]),
        Metrics::Logodds { logodds_difference, correct, total_logprob } => {
            (vec![*logodds_difference, *total_logprob], vec![usize::from(*correct), usize::from(result.truncated)])
        }
        Metrics::Numeric { estimate, .. } => (estimate.iter().copied().collect(), vec![usize::from(result.truncated)]),
    }
}

fn run(checkpoint: &Checkpoint, task: &Task, truncation: Truncation, batching: &Batching) -> Vec<ExampleResult> {
    let options = RunOptions { truncation, batching: Some(*batching), ..RunOptions::default() };
    pollster::block_on(run_task(checkpoint, task, options, |_, _| Control::Continue)).unwrap()
}

/// Runs the tasks on every given model under each batching (all of them, or only the
/// default) and compares with the plain path.
fn batching_changes_nothing_on(device: &Device, models: &[&str], tasks: &[(&str, &str)], all_variants: bool, backend: &str) {
    let mut worst = 0f64;
    for name in models {
        let checkpoint = common::checkpoint(name, device);
        let default = Batching::for_model(&checkpoint.config);
        let plain = Batching { share_prefixes: false, max_tokens: 1, ..default };
        let mut variants = vec![("shared, default batches", default)];
        if all_variants {
            variants.extend([
                ("shared, one example per pass", Batching { share_prefixes: true, ..plain }),
                ("unshared, default batches", Batching { share_prefixes: false, ..default }),
                (
                    "shared, 64-token passes, any padding, head 1 row at a time",
                    Batching { max_tokens: 64, head_rows: 1, max_padding: f64::INFINITY, ..default },
                ),
            ]);
        }
        for &(file, task_type) in tasks {
            let task = task(file, task_type);
            for truncation in [Truncation::KeepScored, Truncation::Pipeline] {
                let expected = run(&checkpoint, &task, truncation, &plain);
                for (what, batching) in &variants {
                    let got = run(&checkpoint, &task, truncation, batching);
                    assert_eq!(got.len(), expected.len());
                    for (g, e) in got.iter().zip(&expected) {
                        let at = format!("[{backend}] {file} / {name} / {} / {what}: example {}", truncation.name(), e.index);
                        assert_eq!(g.index, e.index, "{at}");
                        let ((gv, gd), (ev, ed)) = (numbers(g), numbers(e));
                        assert_eq!(gd, ed, "{at}: correct / predicted / truncated");
                        for (a, b) in gv.iter().zip(&ev) {
                            let err = (a - b).abs();
                            worst = worst.max(err);
                            assert!(err <= TOLERANCE + RELATIVE * b.abs(), "{at}: {a} vs plain {b}, |diff| {err:e}");
                        }
                    }
                }
            }
        }
    }
    eprintln!("[{backend}] max |batched or shared - plain|: {worst:.2e}");
}

#[test]
fn cpu_batching_and_prefix_sharing_change_nothing() {
    batching_changes_nothing_on(&Device::flex(), &common::MODELS, &TASKS, true, "cpu");
}

#[cfg(feature = "wgpu")]
#[test]
fn wgpu_batching_and_prefix_sharing_change_nothing() {
    if let Some(device) = common::wgpu_device() {
        // lavapipe is slow: one model, the default batching, a task of each kind.
        let tasks = [TASKS[0], TASKS[3], TASKS[4], TASKS[5]];
        batching_changes_nothing_on(&device, &common::MODELS[..1], &tasks, false, "wgpu");
    }
}

/// The comparisons above are not vacuous: the fixtures do share prefixes and do get packed.
#[test]
fn fixtures_exercise_sharing_and_packing() {
    let checkpoint = common::checkpoint("tiny-hub", &Device::flex());
    let batching = Batching::for_model(&checkpoint.config);
    for (file, task_type) in [("classification.csv", "classification"), ("logodds.csv", "logodds")] {
        let task = task(file, task_type);
        let groups: Vec<_> = task
            .examples
            .iter()
            .map(|e| {
                let p = score::prepare(e, &checkpoint.tokenizer, checkpoint.config.n_positions, Truncation::KeepScored).unwrap();
                score::group(&p.input, true)
            })
            .collect();
        assert!(groups.iter().any(|g| g.shared > 0), "{file}: examples share prefixes");
        let passes = batching.plan(&groups, checkpoint.config.n_head);
        assert!(passes.len() < groups.len(), "{file}: several examples per pass ({passes:?})");
    }
}
