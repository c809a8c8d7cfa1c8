//! Turning the model into the prize's numbers: token sequences (`prepare`), log-probs from
//! the model (`logprob`), and the pipeline's per-example metrics (`metrics`, no tensors).

pub mod logprob;
pub mod metrics;
pub mod prepare;

pub use logprob::DeviceError;
pub use metrics::Metrics;
pub use prepare::{prepare, Prepared, PreparedExample, Sequence, Truncation};

use crate::model::Gpt2;
use crate::task::{ExampleKind, TaskType};

/// Scores one prepared example.
pub async fn score_example(model: &Gpt2, task_type: TaskType, example: &ExampleKind, input: &Prepared) -> Result<Metrics, DeviceError> {
    Ok(match (input, example) {
        (Prepared::Classification { sequences }, ExampleKind::Classification { answer_index, .. }) => {
            let logprobs = logprob::sequence_logprobs(model, sequences).await?;
            metrics::classification(logprobs, *answer_index)
        }
        (Prepared::SequenceProb { sequence }, _) => {
            let logprobs = logprob::sequence_logprobs(model, std::slice::from_ref(sequence)).await?;
            metrics::sequence_prob(logprobs[0])
        }
        (Prepared::Logodds { prompt, other, classes }, ExampleKind::Logodds { answer_index, .. }) => {
            let pairs = logprob::next_token_logprobs(model, &[prompt, other], *classes).await?;
            let absolute = task_type == TaskType::AbsoluteLogodds;
            metrics::logodds(metrics::ClassPair(pairs[0]), metrics::ClassPair(pairs[1]), *answer_index, absolute)
        }
        _ => unreachable!("prepare() builds the input from the same example"),
    })
}
