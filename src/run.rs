//! Drives one model over one task: prepares every example first (so bad input fails before
//! any work), then scores them in order, reporting each result as it completes.

use crate::checkpoint::Checkpoint;
use crate::score::{self, DeviceError, Metrics, Truncation};
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

/// Scores every example of `task` with `checkpoint`. `on_result` sees each result as soon as
/// it exists (with the number done so far) and may cancel the run.
pub async fn run_task(
    checkpoint: &Checkpoint,
    task: &Task,
    truncation: Truncation,
    mut on_result: impl FnMut(&ExampleResult, usize) -> Control,
) -> Result<Vec<ExampleResult>, RunError> {
    let prepared = task
        .examples
        .iter()
        .map(|e| score::prepare(e, &checkpoint.tokenizer, checkpoint.config.n_positions, truncation))
        .collect::<Result<Vec<_>, _>>()?;
    let total = task.examples.len();
    let mut results = Vec::with_capacity(total);
    for (index, (example, input)) in task.examples.iter().zip(&prepared).enumerate() {
        let metrics = score::score_example(&checkpoint.model, task.task_type, &example.kind, &input.input).await?;
        let result = ExampleResult { index, metrics, truncated: input.truncated };
        let control = on_result(&result, index + 1);
        results.push(result);
        if control == Control::Cancel && index + 1 < total {
            return Err(RunError::Cancelled { done: index + 1, total });
        }
    }
    Ok(results)
}
