//! Drives one model over one task: prepares every example first (so bad input fails before
//! any work), then scores them in order, reporting each result as it completes.

use crate::checkpoint::Checkpoint;
use crate::score::{self, Batching, DeviceError, Metrics, Truncation};
use crate::task::{Task, TaskError};

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
/// chooses. `on_result` sees each result as soon as it exists (with the number done so far)
/// and may cancel the run (after the pass in progress, whose results are all reported).
pub async fn run_task(
    checkpoint: &Checkpoint,
    task: &Task,
    truncation: Truncation,
    on_result: impl FnMut(&ExampleResult, usize) -> Control,
) -> Result<Vec<ExampleResult>, RunError> {
    run_task_with(checkpoint, task, truncation, &Batching::for_model(&checkpoint.config), on_result).await
}

/// [`run_task`] with explicit batching.
pub async fn run_task_with(
    checkpoint: &Checkpoint,
    task: &Task,
    truncation: Truncation,
    batching: &Batching,
    mut on_result: impl FnMut(&ExampleResult, usize) -> Control,
) -> Result<Vec<ExampleResult>, RunError> {
    let prepared = task
        .examples
        .iter()
        .map(|e| score::prepare(e, &checkpoint.tokenizer, checkpoint.config.n_positions, truncation))
        .collect::<Result<Vec<_>, _>>()?;
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
