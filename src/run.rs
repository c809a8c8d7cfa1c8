//! Drives one model over one task: prepares every example first (so bad input fails before
//! any work), then scores them in order, reporting each result as it completes.

use crate::checkpoint::Checkpoint;
use crate::rng::Rng;
use crate::score::{self, metrics, sample, Batching, DeviceError, Metrics, Prepared, Truncation};
use crate::task::{ExampleKind, Task, TaskError, TaskType};
use crate::tokenizer::TokenizerError;

/// The scored numbers of one example.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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
    #[error("a sample: {0}")]
    Decode(#[from] TokenizerError),
    #[error(transparent)]
    Earlier(#[from] EarlierError),
    #[error("cancelled after {done} of {total} examples")]
    Cancelled { done: usize, total: usize },
}

/// Results kept from an earlier run do not fit the task (an older version, or another task,
/// wrote them).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum EarlierError {
    #[error("an earlier result for example {index} does not belong to this task of {total} {task_type} examples")]
    NotOfTask { index: usize, total: usize, task_type: &'static str },
    #[error("example {index} has two earlier results")]
    Twice { index: usize },
}

/// Whether to go on after an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Continue,
    Cancel,
}

/// How [`run_task`] scores a task. `RunOptions::default()` is the CLI's defaults.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    pub truncation: Truncation,
    /// Draws numeric tasks' samples: example `i` from its own generator, so its samples do not
    /// depend on the others.
    pub seed: u64,
    /// How examples are packed into passes; `None` is [`Batching::for_model`].
    pub batching: Option<Batching>,
    /// Results an interrupted run of the same task kept, in any order: only the other examples
    /// are scored. The plan of the remaining examples is the tail of the full plan when these
    /// are a run's first passes, so a resumed run gives the numbers of an uninterrupted one.
    pub earlier: Vec<ExampleResult>,
}

/// Scores every example of `task` with `checkpoint` and returns all results in task order.
/// `on_result` sees each result as soon as it exists (with the number done so far, kept ones
/// included) and may cancel the run (after the pass in progress, whose results are all
/// reported).
pub async fn run_task(
    checkpoint: &Checkpoint,
    task: &Task,
    options: RunOptions,
    mut on_result: impl FnMut(&ExampleResult, usize) -> Control,
) -> Result<Vec<ExampleResult>, RunError> {
    let RunOptions { truncation, seed, batching, earlier } = options;
    let batching = batching.unwrap_or_else(|| Batching::for_model(&checkpoint.config));
    let prepared = task
        .examples
        .iter()
        .map(|e| score::prepare(e, &checkpoint.tokenizer, checkpoint.config.n_positions, truncation))
        .collect::<Result<Vec<_>, _>>()?;
    let total = task.examples.len();
    let mut slots = restore(task, earlier)?;
    let pending: Vec<usize> = (0..total).filter(|&i| slots[i].is_none()).collect();
    let mut done = total - pending.len();
    let mut cancelled = false;
    let mut keep = |result: ExampleResult, slots: &mut Vec<Option<ExampleResult>>| {
        done += 1;
        cancelled |= on_result(&result, done) == Control::Cancel;
        let index = result.index;
        slots[index] = Some(result);
        (cancelled, done)
    };
    if task.task_type == TaskType::Numeric {
        for &index in &pending {
            let Prepared::Numeric { prompt } = &prepared[index].input else {
                return Err(TaskError::file(format!("example {index} of a numeric task is not a numeric example")).into());
            };
            let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let continuations = sample::sample_continuations(&checkpoint.model, prompt, &mut rng).await?;
            let texts = continuations.iter().map(|ids| checkpoint.tokenizer.decode(ids)).collect::<Result<Vec<_>, _>>()?;
            let result = ExampleResult { index, metrics: metrics::numeric(&texts), truncated: prepared[index].truncated };
            if let (true, done) = keep(result, &mut slots) {
                if done < total {
                    return Err(RunError::Cancelled { done, total });
                }
            }
        }
    } else {
        let groups: Vec<_> = pending.iter().map(|&i| score::group(&prepared[i].input, batching.share_prefixes)).collect();
        for pass in batching.plan(&groups, checkpoint.config.n_head) {
            let indices = &pending[pass.clone()];
            let kinds: Vec<_> = indices.iter().map(|&i| &task.examples[i].kind).collect();
            let metrics = score::score_batch(&checkpoint.model, task.task_type, &kinds, &groups[pass], &batching).await?;
            let mut stop = None;
            for (&index, metrics) in indices.iter().zip(metrics) {
                let result = ExampleResult { index, metrics, truncated: prepared[index].truncated };
                if let (true, done) = keep(result, &mut slots) {
                    stop = Some(done);
                }
            }
            if let Some(done) = stop.filter(|&done| done < total) {
                return Err(RunError::Cancelled { done, total });
            }
        }
    }
    Ok(slots.into_iter().flatten().collect())
}

/// Results kept from a run of `task` (in any order), checked as [`run_task`] checks them,
/// in task order.
pub fn kept_in_order(task: &Task, kept: Vec<ExampleResult>) -> Result<Vec<ExampleResult>, RunError> {
    Ok(restore(task, kept)?.into_iter().flatten().collect())
}

/// Places earlier results by index, checking each belongs to this task: an index within it,
/// once, and numbers of the task's kind (a classification result with one number per class).
fn restore(task: &Task, earlier: Vec<ExampleResult>) -> Result<Vec<Option<ExampleResult>>, RunError> {
    let total = task.examples.len();
    let mut slots: Vec<Option<ExampleResult>> = vec![None; total];
    for result in earlier {
        let index = result.index;
        let fits = match (&result.metrics, task.examples.get(index).map(|e| &e.kind)) {
            (Metrics::Classification { class_logprobs, predicted, .. }, Some(ExampleKind::Classification { classes, .. })) => {
                class_logprobs.len() == classes.len() && *predicted < classes.len()
            }
            (Metrics::SequenceProb { .. }, Some(ExampleKind::SequenceProb { .. })) => true,
            (Metrics::Logodds { .. }, Some(ExampleKind::Logodds { .. })) => true,
            (Metrics::Numeric { .. }, Some(ExampleKind::Numeric { .. })) => true,
            _ => false,
        };
        if !fits {
            return Err(EarlierError::NotOfTask { index, total, task_type: task.task_type.name() }.into());
        }
        if slots[index].replace(result).is_some() {
            return Err(EarlierError::Twice { index }.into());
        }
    }
    Ok(slots)
}
