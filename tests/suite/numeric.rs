//! Numeric tasks: samples drawn from the model's own next-token distribution (tempered,
//! top-50), reproducible with the same seed, read as the pipeline reads them.

use crate::common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use invscale::report::results_csv;
use invscale::rng::Rng;
use invscale::run::{run_task, Control, ExampleResult, RunOptions};
use invscale::score::sample::{sample_continuations, MAX_NEW_TOKENS, SAMPLES, TOP_K};
use invscale::score::Metrics;
use invscale::task::{parse_task, TaskType};

const TASK: &str = "prompt,true_answer,anchor\n\
\"Q: How many legs does a spider have?\nA:\",8,3\n\
\"Q: How tall is the tallest tree, in metres? A reasonable guess is 50.\nA:\",115,50\n\
\"Q: What is 12 times 12?\nA:\",144,100\n";

fn run(seed: u64) -> Vec<ExampleResult> {
    let device = Device::flex();
    let checkpoint = common::checkpoint("tiny-hub", &device);
    let task = parse_task(TASK.as_bytes(), None).unwrap();
    assert_eq!(task.task_type, TaskType::Numeric);
    pollster::block_on(run_task(&checkpoint, &task, RunOptions { seed, ..RunOptions::default() }, |_, _| Control::Continue)).unwrap()
}

#[test]
fn the_same_seed_reproduces_a_run_exactly_and_another_seed_does_not() {
    let (a, b, c) = (run(7), run(7), run(8));
    assert_eq!(a, b);
    assert_ne!(a, c);
    for result in &a {
        let Metrics::Numeric { samples, .. } = &result.metrics else { panic!("{result:?}") };
        assert_eq!(samples.len(), SAMPLES);
        assert!(samples.iter().all(|s| !s.contains('\n')), "{samples:?}");
    }
    let task = parse_task(TASK.as_bytes(), None).unwrap();
    let csv = results_csv(&task, &a);
    assert_eq!(csv.lines().next(), Some("index,estimate"));
    assert_eq!(csv.lines().count(), 4);
}

#[test]
fn first_tokens_come_from_the_models_top_k() {
    let device = Device::flex();
    let checkpoint = common::checkpoint("tiny-hub", &device);
    let prompt = checkpoint.tokenizer.encode("Q: What is 12 times 12?\nA:").unwrap();
    let ids = prompt.iter().map(|&id| id as i32).collect::<Vec<_>>();
    let t = ids.len();
    let hidden = checkpoint.model.hidden_states(Tensor::<2, Int>::from_data(TensorData::new(ids, [1, t]), &device));
    let [_, _, c] = hidden.dims();
    let last = hidden.reshape([t, c]).select(0, Tensor::<1, Int>::from_data(TensorData::new(vec![(t - 1) as i64], [1]), &device));
    let logits: Vec<f32> = checkpoint.model.logits(last).into_data().try_to_vec().unwrap();
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    let top: Vec<u32> = order[..TOP_K].iter().map(|&i| i as u32).collect();

    let mut rng = Rng::new(3);
    let mut firsts = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let samples = pollster::block_on(sample_continuations(&checkpoint.model, &prompt, None, &mut rng)).unwrap();
        for s in samples {
            assert!(s.len() <= MAX_NEW_TOKENS);
            if let Some(first) = s.first() {
                assert!(top.contains(first), "token {first} is not among the model's {TOP_K} most likely");
                firsts.insert(*first);
            }
        }
    }
    // Sampling, not argmax: several different first tokens across 200 samples.
    assert!(firsts.len() > 1, "{firsts:?}");
}
