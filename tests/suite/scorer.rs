//! The scoring seam: a model that is not a Burn model scores tasks through `run_task`
//! unchanged. Its log-probs come from a hash of the whole context, so an example given another
//! example's values, a query read after the wrong prefix or a prefix read in pieces that do not
//! join up all change the numbers; every task type, prefixes shared or not, one thread or two,
//! gives exactly the metrics computed here from the prepared sequences.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common;

use invscale::rng::Rng;
use invscale::run::{run_task, Control, ExampleResult, RunOptions};
use invscale::score::{self, metrics, Batching, DeviceError, Group, Metrics, Prepared, Scorer, Truncation};
use invscale::task::{parse_task, ExampleKind, Task, TaskType};
use invscale::tokenizer::Tokenizer;

/// A model whose next-token log-prob is a hash of everything before it and the token.
struct HashModel {
    tokenizer: Tokenizer,
    /// Prefix tokens read through [`Scorer::read_prefix`].
    prefix_tokens: AtomicUsize,
}

/// The log-prob of `target` after `context`, in (-10, 0).
fn logprob(context: &[u32], target: u32) -> f32 {
    let hash = context.iter().chain([&target]).fold(0xcbf2_9ce4_8422_2325u64, |h, &id| (h ^ u64::from(id)).wrapping_mul(0x100_0000_01b3));
    -((hash % 10_000) as f32 + 1.0) / 1000.0
}

/// Its continuations: what a numeric task reads a number from.
const SAMPLE: &str = " 12 apples\nand more";

impl Scorer for HashModel {
    /// The ids read so far.
    type Prefix = Vec<u32>;

    fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    fn n_positions(&self) -> usize {
        1024
    }

    fn batching(&self) -> Batching {
        Batching {
            share_prefixes: true,
            cache_bytes: 1 << 20,
            min_prefix_saving: 0,
            max_tokens: 200,
            max_attention: usize::MAX,
            heads: 1,
            head_rows: usize::MAX,
            max_padding: 0.0,
            buckets: false,
        }
    }

    fn prefix_bytes_per_token(&self) -> usize {
        4
    }

    fn read_prefix(&self, ids: &[u32], parent: Option<&Vec<u32>>) -> Vec<u32> {
        self.prefix_tokens.fetch_add(ids.len(), Ordering::Relaxed);
        parent.into_iter().flatten().chain(ids).copied().collect()
    }

    async fn read_groups(&self, groups: &[Group], common: Option<&Vec<u32>>, _: &Batching) -> Result<Vec<Vec<Vec<f32>>>, DeviceError> {
        let common = common.map_or(&[][..], Vec::as_slice);
        let mut out = Vec::new();
        for group in groups {
            let mut unique = Vec::new();
            for query in group.queries() {
                if !query.ids.starts_with(common) {
                    return Err(DeviceError::Data(format!("a query read after a prefix it does not start with: {:?}", query.ids)));
                }
                let per_read = query.per_read();
                let values = query.reads.clone().enumerate().flat_map(|(r, at)| {
                    query.targets[r * per_read..(r + 1) * per_read].iter().map(move |&target| logprob(&query.ids[..=at], target))
                });
                unique.push(values.collect::<Vec<f32>>());
            }
            out.push(group.as_given(&unique));
        }
        Ok(out)
    }

    async fn sample(&self, prompt: &[u32], common: Option<&Vec<u32>>, _: &mut Rng) -> Result<Vec<Vec<u32>>, DeviceError> {
        if !prompt.starts_with(common.map_or(&[][..], Vec::as_slice)) {
            return Err(DeviceError::Data("a prompt sampled after a prefix it does not start with".into()));
        }
        let ids = self.tokenizer.encode(SAMPLE).map_err(|e| DeviceError::Data(e.to_string()))?;
        Ok(vec![ids; score::sample::SAMPLES])
    }
}

/// The metrics of every example, computed from its prepared sequences without `run` or
/// `score`'s grouping.
fn expected(task: &Task, tokenizer: &Tokenizer) -> Vec<Metrics> {
    let sum = |ids: &[u32], scored: usize| {
        let n = ids.len();
        f64::from((n - scored..n).fold(0f32, |acc, p| acc + logprob(&ids[..p], ids[p])))
    };
    let pair = |prompt: &[u32], classes: [u32; 2]| metrics::ClassPair(classes.map(|c| f64::from(logprob(prompt, c))));
    task.examples
        .iter()
        .map(|example| {
            let prepared = score::prepare(example, tokenizer, 1024, Truncation::default()).unwrap();
            match (&prepared.input, &example.kind) {
                (Prepared::Classification { sequences }, ExampleKind::Classification { answer_index, .. }) => {
                    metrics::classification(sequences.iter().map(|s| sum(&s.ids, s.scored)).collect(), *answer_index)
                }
                (Prepared::SequenceProb { sequence }, _) => metrics::sequence_prob(sum(&sequence.ids, sequence.scored)),
                (Prepared::Logodds { prompt, other, classes }, ExampleKind::Logodds { answer_index, .. }) => metrics::logodds(
                    pair(prompt, *classes),
                    pair(other, *classes),
                    *answer_index,
                    task.task_type == TaskType::AbsoluteLogodds,
                ),
                (Prepared::Numeric { .. }, _) => metrics::numeric(&vec![SAMPLE.to_string(); score::sample::SAMPLES]),
                _ => unreachable!("prepared as its kind"),
            }
        })
        .collect()
}

#[test]
fn a_model_that_is_not_burn_scores_every_task_type_through_run() {
    let tokenizer = Tokenizer::from_bytes(&common::read(common::fixtures().join("tokenizer.json"))).unwrap();
    let model = HashModel { tokenizer, prefix_tokens: AtomicUsize::new(0) };
    let numeric =
        "prompt,true_answer,anchor\n\"Q: How many legs does a spider have?\nA:\",8,3\n\"Q: How many days are in a week?\nA:\",7,30\n";
    let tasks = [
        ("classification.csv", "classification"),
        ("sequence_prob.csv", "sequence_prob"),
        ("logodds.csv", "logodds"),
        ("absolute_logodds.csv", "absolute_logodds"),
    ]
    .map(|(file, task_type)| {
        parse_task(&common::read(common::fixtures().join("tasks").join(file)), TaskType::from_name(task_type)).unwrap()
    })
    .into_iter()
    .chain([parse_task(numeric.as_bytes(), None).unwrap()]);
    // A template before every prompt, so that examples share a prefix worth keeping.
    for task in tasks.map(|task| crate::batching::templated(&task)) {
        let want = expected(&task, model.tokenizer());
        for (share_prefixes, threads) in [(false, 1), (true, 1), (true, 2)] {
            let options = RunOptions { batching: Some(Batching { share_prefixes, ..model.batching() }), threads, ..RunOptions::default() };
            let results = pollster::block_on(run_task(&model, &task, options, |_, _| Control::Continue))
                .unwrap_or_else(|e| panic!("{} (sharing {share_prefixes}, {threads} threads): {e}", task.task_type.name()));
            let got: Vec<Metrics> = results.into_iter().map(|r: ExampleResult| r.metrics).collect();
            assert_eq!(got, want, "{} (sharing {share_prefixes}, {threads} threads)", task.task_type.name());
        }
    }
    assert!(model.prefix_tokens.load(Ordering::Relaxed) > 0, "the template was read once as a shared prefix");
}
