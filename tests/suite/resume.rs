//! Resuming an interrupted run: results kept from it are not scored again, every other
//! example is scored once, and the whole equals an uninterrupted run — exactly when the kept
//! results are the run's first passes (the page's case), within the batching tolerance when
//! they are any other subset. Kept results survive their JSON form bit for bit.

use crate::common;

use burn::tensor::Device;
use invscale::checkpoint::Checkpoint;
use invscale::run::{run_task, Control, EarlierError, ExampleResult, RunError, RunOptions};
use invscale::score::{Metrics, Truncation};
use invscale::task::{parse_task, Task, TaskType};

const NUMERIC: &str = "prompt,true_answer,anchor\n\
\"Q: How many legs does a spider have?\nA:\",8,3\n\
\"Q: What is 12 times 12?\nA:\",144,100\n\
\"Q: How many days are in a week?\nA:\",7,30\n";

fn task(file: &str, task_type: &str) -> Task {
    parse_task(&common::read(common::fixtures().join("tasks").join(file)), TaskType::from_name(task_type)).unwrap()
}

fn full(checkpoint: &Checkpoint, task: &Task) -> Vec<ExampleResult> {
    pollster::block_on(run_task(checkpoint, task, options(Vec::new()), |_, _| Control::Continue)).unwrap()
}

fn options(earlier: Vec<ExampleResult>) -> RunOptions {
    RunOptions { truncation: Truncation::KeepScored, seed: 5, earlier, ..RunOptions::default() }
}

/// Resumes from `earlier`; returns the results and the (index, done) of each example scored.
fn resume(checkpoint: &Checkpoint, task: &Task, earlier: Vec<ExampleResult>) -> (Vec<ExampleResult>, Vec<(usize, usize)>) {
    let mut scored = Vec::new();
    let results = pollster::block_on(run_task(checkpoint, task, options(earlier), |r, done| {
        scored.push((r.index, done));
        Control::Continue
    }))
    .unwrap();
    (results, scored)
}

fn assert_close(got: &[ExampleResult], want: &[ExampleResult]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.index, g.truncated), (w.index, w.truncated));
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-5 + 1e-6 * b.abs();
        let ok = match (&g.metrics, &w.metrics) {
            (
                Metrics::Classification { loss: a, correct: c, predicted: p, class_logprobs: l, .. },
                Metrics::Classification { loss: b, correct: d, predicted: q, class_logprobs: m, .. },
            ) => close(*a, *b) && c == d && p == q && l.iter().zip(m).all(|(x, y)| close(*x, *y)),
            (Metrics::SequenceProb { loss: a }, Metrics::SequenceProb { loss: b }) => close(*a, *b),
            (Metrics::Logodds { logodds_difference: a, correct: c, .. }, Metrics::Logodds { logodds_difference: b, correct: d, .. }) => {
                close(*a, *b) && c == d
            }
            _ => g == w,
        };
        assert!(ok, "example {}: {:?} vs {:?}", g.index, g.metrics, w.metrics);
    }
}

#[test]
fn only_unscored_examples_are_scored_and_the_run_equals_an_uninterrupted_one() {
    let device = Device::flex();
    let checkpoint = common::checkpoint("tiny-hub", &device);
    let mut tasks =
        vec![task("classification.csv", "classification"), task("sequence_prob.csv", "sequence_prob"), task("logodds.csv", "logodds")];
    tasks.push(parse_task(NUMERIC.as_bytes(), None).unwrap());
    for task in &tasks {
        let name = task.task_type.name();
        let all = full(&checkpoint, task);
        let total = all.len();
        assert!(total >= 3, "{name}: too few examples to cut");
        // Nothing kept; a prefix; every third example, in reverse order; everything.
        let cuts: Vec<Vec<usize>> = vec![vec![], (0..total / 2).collect(), (0..total).step_by(3).rev().collect(), (0..total).collect()];
        for kept in cuts {
            let earlier: Vec<_> = kept.iter().map(|&i| all[i].clone()).collect();
            let (results, scored) = resume(&checkpoint, task, earlier);
            let expected: Vec<usize> = (0..total).filter(|i| !kept.contains(i)).collect();
            let mut indices: Vec<usize> = scored.iter().map(|s| s.0).collect();
            indices.sort_unstable();
            assert_eq!(indices, expected, "{name}: kept {kept:?}");
            assert_eq!(scored.iter().map(|s| s.1).collect::<Vec<_>>(), (kept.len() + 1..=total).collect::<Vec<_>>(), "{name}: done counts");
            assert_close(&results, &all);
            if task.task_type == TaskType::Numeric || kept.is_empty() || kept.len() == total {
                // Numeric samples depend only on the seed and the index.
                assert_eq!(results, all, "{name}: kept {kept:?}");
            }
        }
    }
}

#[test]
fn kept_results_survive_their_json_form_bit_for_bit() {
    let device = Device::flex();
    let checkpoint = common::checkpoint("tiny-odd-heads", &device);
    for task in
        [task("classification.csv", "classification"), task("logodds.csv", "logodds"), parse_task(NUMERIC.as_bytes(), None).unwrap()]
    {
        let all = full(&checkpoint, &task);
        let json = serde_json::to_string(&all).unwrap();
        let back: Vec<ExampleResult> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, all);
        assert!(back
            .iter()
            .zip(&all)
            .all(|(a, b)| a.metrics.value().to_bits() == b.metrics.value().to_bits() || a.metrics.value().is_nan()));
    }
}

#[test]
fn kept_results_that_do_not_fit_the_task_are_refused() {
    let device = Device::flex();
    let checkpoint = common::checkpoint("tiny-hub", &device);
    let classification = task("classification.csv", "classification");
    let all = full(&checkpoint, &classification);
    let refused =
        |earlier: Vec<ExampleResult>, task: &Task| match pollster::block_on(run_task(&checkpoint, task, options(earlier), |_, _| {
            Control::Continue
        })) {
            Err(RunError::Earlier(refusal)) => refusal,
            other => panic!("expected a refusal, got {other:?}"),
        };
    let mut beyond = all[0].clone();
    beyond.index = all.len();
    let total = all.len();
    assert_eq!(refused(vec![beyond], &classification), EarlierError::NotOfTask { index: total, total, task_type: "classification" });
    assert_eq!(refused(vec![all[1].clone(), all[1].clone()], &classification), EarlierError::Twice { index: 1 });
    // Classification results do not belong to a logodds task.
    let logodds = task("logodds.csv", "logodds");
    let mismatch = EarlierError::NotOfTask { index: 0, total: logodds.examples.len(), task_type: "logodds" };
    assert_eq!(refused(vec![all[0].clone()], &logodds), mismatch);
    assert!(mismatch.to_string().contains("does not belong to this task"), "{mismatch}");
}
