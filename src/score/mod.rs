//! Turning the model into the prize's numbers: token sequences (`prepare`), the queries they
//! ask of the model and how passes are packed (`logprob`, `batch`), prefixes read once for
//! many examples (`prefix_cache`), and the pipeline's per-example metrics (`metrics`, no
//! tensors). What answers the queries is a [`Scorer`]: a Burn checkpoint
//! (`checkpoint_scorer`, with `logprob::read_groups` and `sample`), or any other model.

pub mod batch;
mod checkpoint_scorer;
pub mod logprob;
pub mod metrics;
pub mod prefix_cache;
pub mod prepare;
pub mod sample;
mod scorer;

pub use batch::Batching;
pub use logprob::DeviceError;
pub use metrics::Metrics;
pub use prefix_cache::{Base, PrefixCache, PrefixPlan};
pub use prepare::{prepare, Prepared, PreparedExample, Sequence, Truncation};
pub use scorer::Scorer;

pub use logprob::{Group, Query};

use crate::task::{ExampleKind, TaskType};

/// What one example asks of the model, grouped so that its queries may share their prefix.
pub fn group(input: &Prepared, share_prefixes: bool) -> Group {
    let queries = match input {
        Prepared::Classification { sequences } => sequences.iter().map(Query::continuation).collect(),
        Prepared::SequenceProb { sequence } => vec![Query::continuation(sequence)],
        Prepared::Logodds { prompt, other, classes } => vec![Query::next_token(prompt, *classes), Query::next_token(other, *classes)],
        // Numeric examples are sampled (`sample`), not read for log-probs.
        Prepared::Numeric { .. } => Vec::new(),
    };
    Group::new(queries, share_prefixes)
}

/// What an example reads before its first scored (or sampled) position: the part a prefix
/// shared with other examples may cover. Empty without `share`.
pub fn head<'a>(input: &'a Prepared, group: &'a Group, share: bool) -> &'a [u32] {
    match input {
        Prepared::Numeric { prompt } if share => &prompt[..prompt.len().saturating_sub(1)],
        _ => group.head_ids(),
    }
}

/// Scores examples (with their [`group`]s) in one forward pass after `common`, a prefix they
/// all start with; [`Batching::plan`] says what fits.
pub async fn score_batch<S: Scorer>(
    scorer: &S,
    task_type: TaskType,
    examples: &[&ExampleKind],
    groups: &[Group],
    common: Option<&S::Prefix>,
    batching: &Batching,
) -> Result<Vec<Metrics>, DeviceError> {
    let values = scorer.read_groups(groups, common, batching).await?;
    Ok(examples.iter().zip(values).map(|(example, values)| metrics_of(task_type, example, values)).collect())
}

/// The pipeline's metrics from the log-probs of an example's queries.
fn metrics_of(task_type: TaskType, example: &ExampleKind, values: Vec<Vec<f32>>) -> Metrics {
    // A sequence's log-prob: summed in float32, token by token, as the pipeline sums them.
    let sum = |v: &Vec<f32>| f64::from(v.iter().fold(0f32, |acc, &x| acc + x));
    let pair = |v: &Vec<f32>| metrics::ClassPair([f64::from(v[0]), f64::from(v[1])]);
    match example {
        ExampleKind::Classification { answer_index, .. } => metrics::classification(values.iter().map(sum).collect(), *answer_index),
        ExampleKind::SequenceProb { .. } => metrics::sequence_prob(sum(&values[0])),
        ExampleKind::Logodds { answer_index, .. } => {
            let absolute = task_type == TaskType::AbsoluteLogodds;
            metrics::logodds(pair(&values[0]), pair(&values[1]), *answer_index, absolute)
        }
        // Never read here: `run` samples numeric examples with `sample`.
        ExampleKind::Numeric { .. } => metrics::numeric(&[]),
    }
}
