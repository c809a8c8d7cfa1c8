//! Drives one model over one task: prepares every example first (so bad input fails before
//! any work), then scores them in order, reporting each result as it completes.

use crate::checkpoint::Checkpoint;
use crate::rng::Rng;
use crate::score::{self, metrics, sample, Batching, DeviceError, Metrics, Prepared, Truncation};
use crate::task::{Task, TaskError, TaskType};

/// The scored numbers of one example.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ExampleResult {
    /// 0-based position of the example in the task (the pipeline's `index`).
    pub index: usize,
    #[serde(flatten)]
    pub metrics: Metrics,
    /// The input was longer than the context and was shortened.
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Input(#[from] TaskError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error("cannot decode a sample: {0}")]
    Decode(String),
    #[error("cancelled after {done} of {total} examples")]
    Cancelled { done: usize, total: usize },
}

/// Whether to go on after an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    Cancel,
}

/// Scores every example of `task` with `checkpoint`, packed as [`Batching::for_model`]
/// chooses. `seed` draws numeric tasks' samples (example `i` from its own generator, so its
/// samples do not depend on the others). `on_result` sees each result as soon as it exists
/// (with the number done so far) and may cancel the run (after the pass in progress, whose
/// results are all reported).
pub async fn run_task(
    checkpoint: &Checkpoint,
    task: &Task,
    truncation: Truncation,
    seed: u64,
    on_result: impl FnMut(&ExampleResult, usize) -> Control,
) -> Result<Vec<ExampleResult>, RunError> {
    run_task_with(checkpoint, task, truncation, &Batching::for_model(&checkpoint.config), seed, on_result).await
}

/// [`run_task`] with explicit batching.
pub async fn run_task_with(
    checkpoint: &Checkpoint,
    task: &Task,
    truncation: Truncation,
    batching: &Batching,
    seed: u64,
    mut on_result: impl FnMut(&ExampleResult, usize) -> Control,
) -> Result<Vec<ExampleResult>, RunError> {
    let prepared = task
        .examples
        .iter()
        .map(|e| score::prepare(e, &checkpoint.tokenizer, checkpoint.config.n_positions, truncation))
        .collect::<Result<Vec<_>, _>>()?;
    if task.task_type == TaskType::Numeric {
        return run_numeric(checkpoint, &prepared, seed, on_result).await;
    }
    let groups: Vec<_> = prepared.iter().map(|p| score::group(&p.input, batching.share_prefixes)).collect();
    let total = task.examples.len();
    let mut results = Vec::with_capacity(total);
    let mut cancelled = false;
    for pass in batching.plan(&groups, checkpoint.config.n_head) {
        let kinds: Vec<_> = task.examples[pass.clone()].iter().map(|e| &e.kind).collect();
        let metrics = score::score_batch(&checkpoint.model, task.task_type, &kinds, &groups[pass.clone()], batching).await?;
        for (index, metrics) in pass.zip(metrics) {
            let result = ExampleResult { index, metrics, truncated: prepared[index].truncated };
            cancelled |= on_result(&result, index + 1) == Control::Cancel;
            results.push(result);
        }
        if cancelled && results.len() < total {
            return Err(RunError::Cancelled { done: results.len(), total });
        }
    }
    Ok(results)
}

/// Numeric examples one by one: sample, decode, read the numbers.
async fn run_numeric(
    checkpoint: &Checkpoint,
    prepared: &[score::PreparedExample],
    seed: u64,
    mut on_result: impl FnMut(&ExampleResult, usize) -> Control,
) -> Result<Vec<ExampleResult>, RunError> {
    let total = prepared.len();
    let mut results = Vec::with_capacity(total);
    for (index, example) in prepared.iter().enumerate() {
        let Prepared::Numeric { prompt } = &example.input else {
            return Err(TaskError::file(format!("example {index} of a numeric task is not a numeric example")).into());
        };
        let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let continuations = sample::sample_continuations(&checkpoint.model, prompt, &mut rng).await?;
        let texts = continuations
            .iter()
            .map(|ids| checkpoint.tokenizer.decode(ids).map_err(|e| RunError::Decode(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let result = ExampleResult { index, metrics: metrics::numeric(&texts), truncated: example.truncated };
        let cancel = on_result(&result, index + 1) == Control::Cancel;
        results.push(result);
        if cancel && results.len() < total {
            return Err(RunError::Cancelled { done: results.len(), total });
        }
    }
    Ok(results)
}
