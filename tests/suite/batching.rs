//! Prefix sharing and batching change nothing: every fixture task scored one example per
//! pass without sharing (the plain path) equals the same task scored with shared prefixes,
//! with many examples per pass, and with the LM head split into small chunks, within 1e-5
//! nats plus float32 rounding of the value (1e-6 of it: the random fixture models give
//! log-probs of -40 nats, where one float32 step is 4e-6); `correct`, `predicted` and
//! truncation flags are identical. So does a prefix read once for many examples: the same
//! tasks made from a template (an instruction and a demonstration before every prompt), and
//! numeric samples drawn after it.

use crate::common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use invscale::checkpoint::Checkpoint;
use invscale::run::{self, run_task, Control, ExampleResult, RunOptions, Share};
use invscale::score::{self, Batching, Metrics, Truncation};
use invscale::task::{parse_task, ExampleKind, Task, TaskType};

const TOLERANCE: f64 = 1e-5;
/// Float32 sums taken in another order differ by about an ulp of what they add up: relative
/// to the largest number of the example (its class log-probs, from which its loss and total
/// are differences), not to each.
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

/// What a template-made task puts before every prompt (40 tokens).
const TEMPLATE: &str = "The questions below test careful reading. Answer each one with the single best choice, \
as a careful reader would.\n\nQ: Is water wet?\nA: yes\n\nQ: Do fish swim?\nA: yes\n\n";

const NUMERIC: &str = "prompt,true_answer,anchor\n\
\"Q: How many legs does a spider have?\nA:\",8,3\n\
\"Q: What is 12 times 12?\nA:\",144,100\n\
\"Q: How many days are in a week?\nA:\",7,30\n";

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

/// `task` with [`TEMPLATE`] before every prompt.
pub(crate) fn templated(task: &Task) -> Task {
    let mut task = task.clone();
    for example in &mut task.examples {
        match &mut example.kind {
            ExampleKind::Classification { prompt, .. } | ExampleKind::SequenceProb { prompt, .. } | ExampleKind::Numeric { prompt, .. } => {
                prompt.insert_str(0, TEMPLATE)
            }
            ExampleKind::Logodds { prompt, other_prompt, .. } => {
                prompt.insert_str(0, TEMPLATE);
                other_prompt.insert_str(0, TEMPLATE);
            }
        }
    }
    task
}

fn run(checkpoint: &Checkpoint, task: &Task, truncation: Truncation, batching: &Batching) -> Vec<ExampleResult> {
    let options = RunOptions { truncation, batching: Some(*batching), ..RunOptions::default() };
    pollster::block_on(run_task(checkpoint, task, options, |_, _| Control::Continue)).unwrap()
}

/// Runs the tasks on every given model under each batching (all of them, or only the
/// default) and compares with the plain path.
fn batching_changes_nothing_on(device: &Device, models: &[&str], tasks: &[(&str, &str)], all_variants: bool, backend: &str) {
    let tasks: Vec<(String, Task)> = tasks
        .iter()
        .flat_map(|&(file, task_type)| {
            [(file.to_string(), task(file, task_type)), (format!("templated {file}"), templated(&task(file, task_type)))]
        })
        .collect();
    let mut worst = 0f64;
    for name in models {
        let checkpoint = common::checkpoint(name, device);
        // As runs get it.
        let default = Batching::for_device(&checkpoint.config, backend == "wgpu");
        let plain = Batching { share_prefixes: false, max_tokens: 1, ..default };
        let mut variants = vec![("shared, default batches", default)];
        if all_variants {
            variants.extend([
                ("shared, one example per pass", Batching { share_prefixes: true, ..plain }),
                ("unshared, default batches", Batching { share_prefixes: false, ..default }),
                ("shared within examples only", Batching { cache_bytes: 0, ..default }),
                ("shared, padded to buckets", Batching { buckets: true, ..default }),
                (
                    "shared, 64-token passes, any padding, head 1 row at a time",
                    Batching { max_tokens: 64, head_rows: 1, max_padding: f64::INFINITY, ..default },
                ),
            ]);
        }
        for (file, task) in &tasks {
            for truncation in [Truncation::KeepScored, Truncation::Pipeline] {
                let expected = run(&checkpoint, task, truncation, &plain);
                // Without a cache across examples a template changes nothing the plain tasks do not cover.
                let templated = file.starts_with("templated");
                for (what, batching) in variants.iter().filter(|(_, b)| !templated || (b.share_prefixes && b.cache_bytes > 0)) {
                    let got = run(&checkpoint, task, truncation, batching);
                    assert_eq!(got.len(), expected.len());
                    for (g, e) in got.iter().zip(&expected) {
                        let at = format!("[{backend}] {file} / {name} / {} / {what}: example {}", truncation.name(), e.index);
                        assert_eq!(g.index, e.index, "{at}");
                        let ((gv, gd), (ev, ed)) = (numbers(g), numbers(e));
                        assert_eq!(gd, ed, "{at}: correct / predicted / truncated");
                        let scale = ev.iter().fold(0f64, |m, v| m.max(v.abs()));
                        for (a, b) in gv.iter().zip(&ev) {
                            let err = (a - b).abs();
                            worst = worst.max(err);
                            assert!(err <= TOLERANCE + RELATIVE * scale, "{at}: {a} vs plain {b}, |diff| {err:e}");
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
                let p = score::prepare(e, &checkpoint.tokenizer, checkpoint.config.n_positions(), Truncation::KeepScored).unwrap();
                score::group(&p.input, true)
            })
            .collect();
        assert!(groups.iter().any(|g| g.shared > 0), "{file}: examples share prefixes");
        let passes = batching.plan(&groups, &vec![None; groups.len()]);
        assert!(passes.len() < groups.len(), "{file}: several examples per pass ({passes:?})");
    }
}

/// The template is read once, not once per example: the comparisons above exercise the cache.
#[test]
fn a_template_is_read_once_per_model() {
    let checkpoint = common::checkpoint("tiny-hub", &Device::flex());
    let template = checkpoint.tokenizer.encode(TEMPLATE).unwrap().len();
    let default = Batching::for_model(&checkpoint.config);
    for (file, task_type) in TASKS.iter().copied().chain([("numeric", "numeric")]) {
        let task = if file == "numeric" { parse_task(NUMERIC.as_bytes(), None).unwrap() } else { templated(&task(file, task_type)) };
        let work =
            |batching: Batching| run::work(&checkpoint, &task, &RunOptions { batching: Some(batching), ..RunOptions::default() }).unwrap();
        let (cached, uncached) = (work(default), work(Batching { cache_bytes: 0, ..default }));
        // Examples cut to the context lose their template.
        let n = task
            .examples
            .iter()
            .filter(|e| {
                !score::prepare(e, &checkpoint.tokenizer, checkpoint.config.n_positions(), Truncation::KeepScored).unwrap().truncated
            })
            .count();
        if file == "numeric" {
            // Three prompts that share only "Q: How many": too short to keep.
            assert_eq!(cached, uncached, "{file}");
            // Each: the prompt, then a step per new token.
            assert_eq!(cached.passes, 3 * invscale::score::sample::MAX_NEW_TOKENS);
            continue;
        }
        // Every example but the first reads the template from the cache (all of it but perhaps the
        // token where it meets the prompt).
        assert!(cached.tokens + (n - 1) * (template - 1) <= uncached.tokens, "{file}: {cached:?} vs {uncached:?}");
        assert!(cached.tokens < cached.pipeline_tokens, "{file}");
        // The template's own pass, and at least one of examples.
        assert!(cached.passes >= 2 && cached.passes <= task.examples.len() + 2, "{file}: {cached:?}");
    }
}

/// Numeric samples drawn after a cached prefix are the samples drawn without one.
#[test]
fn numeric_samples_after_a_shared_prefix_are_unchanged() {
    let checkpoint = common::checkpoint("tiny-odd-heads", &Device::flex());
    let task = templated(&parse_task(NUMERIC.as_bytes(), None).unwrap());
    let default = Batching::for_model(&checkpoint.config);
    let cached = run(&checkpoint, &task, Truncation::KeepScored, &default);
    let plain = run(&checkpoint, &task, Truncation::KeepScored, &Batching { share_prefixes: false, ..default });
    assert_eq!(cached, plain);
    let work = run::work(&checkpoint, &task, &RunOptions::default()).unwrap();
    assert!(work.tokens * 3 < work.pipeline_tokens, "{work:?}");
}

/// Reading a sequence in parts, each after the keys and values of the parts before it (one
/// prefix for all rows, then each row's own), gives the states of reading it whole.
#[test]
fn reading_in_parts_equals_reading_whole() {
    let device = Device::flex();
    let checkpoint = common::checkpoint("tiny-odd-heads", &device);
    let model = &checkpoint.model;
    let rows: Vec<Vec<i32>> =
        vec![(0..12).map(|i| 100 + i).collect(), (0..5).map(|i| 100 + i).chain((0..7).map(|i| 900 + 3 * i)).collect()];
    let tensor = |rows: &[Vec<i32>], span: std::ops::Range<usize>| {
        let ids: Vec<i32> = rows.iter().flat_map(|r| r[span.clone()].to_vec()).collect();
        Tensor::<2, Int>::from_data(TensorData::new(ids, [rows.len(), span.len()]), &device)
    };
    let whole: Vec<f32> = model.hidden_states(tensor(&rows, 0..12)).narrow(1, 9, 3).into_data().try_to_vec().unwrap();
    let (_, common) = model.extend(tensor(&rows[..1], 0..5), None, None);
    let (_, own) = model.extend(tensor(&rows, 5..9), Some(&common), None);
    let (last, _) = model.extend(tensor(&rows, 9..12), Some(&common), Some(&own));
    let parts: Vec<f32> = last.into_data().try_to_vec().unwrap();
    let worst = whole.iter().zip(&parts).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-5, "max |parts - whole| = {worst:e}");
}

/// Each example reported once, as the count of those done rises by one.
fn assert_reported_once_each(seen: &[(usize, usize)], total: usize, what: &str) {
    let mut indices: Vec<usize> = seen.iter().map(|s| s.0).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..total).collect::<Vec<_>>(), "{what}: each example once");
    assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>(), "{what}: done counts");
}

/// Scoring passes on several threads gives the numbers of one thread, bit for bit, each
/// reported once; a cancel stops it after the passes in progress.
#[test]
fn scoring_on_threads_changes_nothing() {
    let checkpoint = common::checkpoint("tiny-odd-heads", &Device::flex());
    let small = Batching { max_tokens: 64, ..Batching::for_model(&checkpoint.config) };
    let tasks = [
        templated(&task("classification.csv", "classification")),
        task("logodds.csv", "logodds"),
        templated(&parse_task(NUMERIC.as_bytes(), None).unwrap()),
    ];
    for task in &tasks {
        let on = |threads: usize| {
            let mut seen = Vec::new();
            let options = RunOptions { batching: Some(small), threads, ..RunOptions::default() };
            let results = pollster::block_on(run_task(&checkpoint, task, options, |r, done| {
                seen.push((r.index, done));
                Control::Continue
            }))
            .unwrap();
            (results, seen)
        };
        let (one, _) = on(1);
        let (three, seen) = on(3);
        assert_eq!(three, one, "{}", task.task_type);
        assert_reported_once_each(&seen, one.len(), &task.task_type.to_string());
    }
    let options = RunOptions { batching: Some(small), threads: 2, ..RunOptions::default() };
    let cancelled =
        pollster::block_on(run_task(
            &checkpoint,
            &tasks[0],
            options,
            |_, done| if done == 2 { Control::Cancel } else { Control::Continue },
        ));
    assert!(matches!(cancelled, Err(run::RunError::Cancelled { done, total: 12 }) if (2..12).contains(&done)), "{cancelled:?}");
}

/// Shares of a task, as the page's workers score them (each given the same task and earlier
/// results), together score every example once with the numbers one scorer gives, bit for
/// bit: from the start and resumed.
#[test]
fn scoring_in_shares_changes_nothing() {
    let checkpoint = common::checkpoint("tiny-odd-heads", &Device::flex());
    let small = Batching { max_tokens: 64, ..Batching::for_model(&checkpoint.config) };
    let tasks = [templated(&task("classification.csv", "classification")), templated(&parse_task(NUMERIC.as_bytes(), None).unwrap())];
    for task in &tasks {
        let score = |share: Share, earlier: Vec<ExampleResult>| {
            let options = RunOptions { batching: Some(small), share, earlier, ..RunOptions::default() };
            pollster::block_on(run_task(&checkpoint, task, options, |_, _| Control::Continue)).unwrap()
        };
        let whole = score(Share::default(), Vec::new());
        let kept: Vec<ExampleResult> = whole.iter().filter(|r| r.index % 3 == 1).cloned().collect();
        for (count, earlier) in [(2, Vec::new()), (3, Vec::new()), (3, kept.clone()), (5, kept.clone())] {
            let mut scored: Vec<ExampleResult> = Vec::new();
            for index in 0..count {
                let results = score(Share { index, count }, earlier.clone());
                scored.extend(results.into_iter().filter(|r| !earlier.contains(r)));
            }
            scored.extend(earlier.iter().cloned());
            scored.sort_by_key(|r| r.index);
            assert_eq!(scored, whole, "{}: {count} shares, {} kept", task.task_type, earlier.len());
        }
    }
    let beyond = RunOptions { share: Share { index: 2, count: 2 }, ..RunOptions::default() };
    let refused = pollster::block_on(run_task(&checkpoint, &tasks[0], beyond, |_, _| Control::Continue));
    assert!(refused.unwrap_err().to_string().contains("share 2 of 2 does not exist"));
}

/// A task whose prompts alternate between two lengths is packed a shape at a time from
/// windows of the task, not a pass per example, each reported once, and every number
/// equals the example scored in a pass of its own, bit for bit (a row's numbers on the CPU do
/// not depend on what its pass holds).
#[test]
fn examples_of_one_shape_share_passes_across_the_task_order() {
    let checkpoint = common::checkpoint("tiny-odd-heads", &Device::flex());
    let mut csv = String::from("prompt,classes,answer_index\n");
    for i in 0..12 {
        let prompt = if i % 2 == 0 { format!("Q: Is {i} even?") } else { format!("Q: Is the number {i} an even one, would you say?") };
        csv += &format!("\"{prompt}\nA:\",\"[' yes', ' no']\",{}\n", i % 2);
    }
    let task = parse_task(csv.as_bytes(), None).unwrap();
    let default = Batching::for_device(&checkpoint.config, false);
    let alone = Batching { max_tokens: 1, ..default };
    let work =
        |batching: Batching| run::work(&checkpoint, &task, &RunOptions { batching: Some(batching), ..RunOptions::default() }).unwrap();
    assert_eq!(work(alone).passes, 12);
    assert_eq!(work(default).passes, 2, "one pass per prompt length");
    let mut seen = Vec::new();
    let options = RunOptions { batching: Some(default), ..RunOptions::default() };
    let packed = pollster::block_on(run_task(&checkpoint, &task, options, |r, done| {
        seen.push((r.index, done));
        Control::Continue
    }))
    .unwrap();
    assert_reported_once_each(&seen, 12, "alternating lengths");
    assert_eq!(packed, run(&checkpoint, &task, Truncation::KeepScored, &alone));
}
