//! Drives one model over one task: prepares every example first (so bad input fails before
//! any work), then scores them in order, reporting each result as it completes.

use std::sync::Mutex;

use crate::rng::Rng;
use crate::score::sample::{MAX_NEW_TOKENS, SAMPLES};
use crate::score::{
    self, metrics, Base, Batching, DeviceError, Group, Metrics, PrefixCache, PrefixPlan, Prepared, PreparedExample, Scorer, Truncation,
};
use crate::task::{ExampleKind, Task, TaskError, TaskType};
use crate::tokenizer::TokenizerError;

/// The scored numbers of one example.
// Declared by hand to TypeScript: an interface cannot extend the union `Metrics` is.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(type = "{ index: number; truncated: boolean } & Metrics"))]
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
    #[error("share {} of {} does not exist", .0.index, .0.count)]
    NoShare(Share),
    #[error("cancelled after {done} of {total} examples")]
    Cancelled { done: usize, total: usize },
    /// NaN or infinity where a log-prob should be: the weights (finite, but huge) or the
    /// device's arithmetic overflowed. Scored on, it would count as a correct prediction.
    #[error("example {index}: the model gave a log-prob that is not a finite number (its weights or the device's arithmetic overflowed)")]
    NonFinite { index: usize },
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
    /// How examples are packed into passes; `None` is [`Scorer::batching`].
    pub batching: Option<Batching>,
    /// Results an interrupted run of the same task kept, in any order: only the other examples
    /// are scored. The plan of the remaining examples is the tail of the full plan when these
    /// are a run's first passes, so a resumed run gives the numbers of an uninterrupted one.
    pub earlier: Vec<ExampleResult>,
    /// Passes scored at once, each on its own thread (native only; the CPU backend's
    /// element-wise kernels use one core each). Results do not depend on it. 0 and 1: the
    /// caller's thread.
    pub threads: usize,
    /// The part of the task this run scores, when several scorers (the page's workers) share
    /// it; the default is all of it.
    pub share: Share,
}

/// Share `index` of `count` equal shares of a task's work: several scorers, each given the same
/// task, options and earlier results and a different index, together score every remaining
/// example once, in the passes one scorer would read (so with the numbers it would give).
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Share {
    pub index: usize,
    pub count: usize,
}

impl Default for Share {
    fn default() -> Self {
        Share { index: 0, count: 1 }
    }
}

impl Share {
    /// Whether the job whose cost starts at `before` (of `total`) and is `cost` long is this
    /// share's: the shares cut the jobs, in order, into runs of about equal cost.
    fn holds(self, before: usize, cost: usize, total: usize) -> bool {
        let middle = 2 * before + cost; // twice the job's middle, so no rounding
        (middle * self.count / (2 * total.max(1))).min(self.count - 1) == self.index
    }
}

/// Tokens a run puts through the model, beside what the pipeline reads for the same examples
/// (one pass per sequence: each class, each prompt, each numeric sample).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    pub examples: usize,
    /// At most: a numeric sample that ends early reads fewer.
    pub tokens: usize,
    pub pipeline_tokens: usize,
    /// Forward passes through the model (at most, as tokens): each batch of examples, each
    /// shared prefix, each step of numeric samples.
    pub passes: usize,
}

/// What [`run_task`] will read: every example prepared, its queries grouped, and the prefixes
/// it shares with other examples, planned over the whole task.
struct Plan {
    prepared: Vec<PreparedExample>,
    groups: Vec<Group>,
    prefixes: PrefixPlan,
    batching: Batching,
}

impl Plan {
    fn new(scorer: &impl Scorer, task: &Task, truncation: Truncation, batching: Option<Batching>) -> Result<Self, TaskError> {
        let batching = batching.unwrap_or_else(|| scorer.batching());
        let prepared = task
            .examples
            .iter()
            .map(|e| score::prepare(e, scorer.tokenizer(), scorer.n_positions(), truncation))
            .collect::<Result<Vec<_>, _>>()?;
        let share = batching.share_prefixes;
        let groups: Vec<Group> = prepared.iter().map(|p| score::group(&p.input, share)).collect();
        let heads: Vec<&[u32]> = prepared.iter().zip(&groups).map(|(p, g)| score::head(&p.input, g, share)).collect();
        let prefixes = PrefixPlan::new(&heads, scorer.prefix_bytes_per_token(), batching.cache_bytes, batching.min_prefix_saving);
        Ok(Plan { prepared, groups, prefixes, batching })
    }

    fn common_len(&self, index: usize) -> usize {
        self.prefixes.base(index).map_or(0, |b| b.len)
    }

    /// The forward passes that read examples `indices` (all of a task's).
    fn passes(&self, indices: &[usize]) -> usize {
        let numeric = |&i: &usize| matches!(self.prepared[i].input, Prepared::Numeric { .. });
        let scored: Vec<usize> = indices.iter().copied().filter(|i| !numeric(i)).collect();
        let groups: Vec<Group> = scored.iter().map(|&i| self.groups[i].clone()).collect();
        let bases: Vec<Option<Base>> = scored.iter().map(|&i| self.prefixes.base(i)).collect();
        let samples = indices.iter().filter(|i| numeric(i)).count() * MAX_NEW_TOKENS;
        self.prefixes.prefixes_for(indices) + samples + self.batching.plan(&groups, &bases).len()
    }

    /// The tokens read for examples `indices`, ours and the pipeline's.
    fn work(&self, indices: &[usize]) -> Work {
        let mut work = Work { examples: indices.len(), tokens: self.prefixes.tokens_for(indices), pipeline_tokens: 0, passes: 0 };
        for &i in indices {
            let common = self.common_len(i);
            let group = &self.groups[i];
            let (ours, theirs) = match &self.prepared[i].input {
                Prepared::Numeric { prompt } => {
                    let new = SAMPLES * (MAX_NEW_TOKENS - 1);
                    (prompt.len() - common + new, SAMPLES * prompt.len() + new)
                }
                Prepared::Classification { sequences } => (group.tokens_after(common), sequences.iter().map(|s| s.ids.len()).sum()),
                Prepared::SequenceProb { sequence } => (group.tokens_after(common), sequence.ids.len()),
                Prepared::Logodds { prompt, other, .. } => (group.tokens_after(common), prompt.len() + other.len()),
            };
            work.tokens += ours;
            work.pipeline_tokens += theirs;
        }
        work
    }
}

/// The tokens [`run_task`] reads for all of `task`, beside the pipeline's, and its passes.
pub fn work(scorer: &impl Scorer, task: &Task, options: &RunOptions) -> Result<Work, RunError> {
    let plan = Plan::new(scorer, task, options.truncation, options.batching)?;
    let all: Vec<usize> = (0..task.examples.len()).collect();
    Ok(Work { passes: plan.passes(&all), ..plan.work(&all) })
}

/// Scores every example of `task` with `scorer` and returns all results in task order.
/// `on_result` sees each result as soon as it exists (with the number done so far, kept ones
/// included): in task order but where a pass holds examples from further on in the task
/// (examples of one shape go together), and may cancel the run (after the passes in progress,
/// whose results are all reported).
pub async fn run_task<S: Scorer + Sync>(
    scorer: &S,
    task: &Task,
    options: RunOptions,
    mut on_result: impl FnMut(&ExampleResult, usize) -> Control,
) -> Result<Vec<ExampleResult>, RunError>
where
    S::Prefix: Send,
{
    let RunOptions { truncation, seed, batching, earlier, threads, share } = options;
    if share.count == 0 || share.index >= share.count {
        return Err(RunError::NoShare(share));
    }
    let plan = Plan::new(scorer, task, truncation, batching)?;
    let total = task.examples.len();
    let mut slots = restore(task, earlier)?;
    let pending: Vec<usize> = (0..total).filter(|&i| slots[i].is_none()).collect();
    let bases: Vec<Option<Base>> = pending.iter().map(|&i| plan.prefixes.base(i)).collect();
    let jobs: Vec<Job> = if task.task_type == TaskType::Numeric {
        pending.iter().map(|&index| Job::Sample(index)).collect()
    } else {
        let groups: Vec<Group> = pending.iter().map(|&i| plan.groups[i].clone()).collect();
        plan.batching.plan(&groups, &bases).into_iter().map(|pass| Job::Pass(pass.into_iter().map(|i| pending[i]).collect())).collect()
    };
    let jobs = share_of(&plan, jobs, share);
    let scoring = Scoring { scorer, task, plan: &plan, seed, cache: Mutex::new(PrefixCache::new(&plan.prefixes)) };

    // Each result goes out as soon as its pass is done (a pass may hold examples from further
    // on in the task: see `Batching::plan`); a prefix is dropped once every example up to its
    // last is done.
    let mut done = total - pending.len();
    let mut finished = Finished::new(&jobs);
    let mut deliver = |results: Vec<ExampleResult>| -> Result<(), RunError> {
        let mut cancelled = false;
        for result in results {
            done += 1;
            cancelled |= on_result(&result, done) == Control::Cancel;
            if let Some(through) = finished.add(result.index) {
                scoring.cache.lock().unwrap_or_else(|e| e.into_inner()).done_with(through);
            }
            let index = result.index;
            slots[index] = Some(result);
        }
        match cancelled && done < total {
            true => Err(RunError::Cancelled { done, total }),
            false => Ok(()),
        }
    };
    #[cfg(not(target_family = "wasm"))]
    if threads > 1 && jobs.len() > 1 {
        on_threads(&scoring, &jobs, threads, &mut deliver)?;
        return Ok(slots.into_iter().flatten().collect());
    }
    let _ = threads; // one thread in the browser
    for job in &jobs {
        deliver(scoring.score(job).await?)?;
    }
    Ok(slots.into_iter().flatten().collect())
}

/// The jobs of `share`, by the tokens each reads.
fn share_of(plan: &Plan, jobs: Vec<Job>, share: Share) -> Vec<Job> {
    if share.count == 1 {
        return jobs;
    }
    let costs: Vec<usize> = jobs.iter().map(|job| plan.work(job.indices()).tokens.max(1)).collect();
    let total: usize = costs.iter().sum();
    let mut before = 0;
    let mut mine = Vec::new();
    for (job, cost) in jobs.into_iter().zip(costs) {
        if share.holds(before, cost, total) {
            mine.push(job);
        }
        before += cost;
    }
    mine
}

/// Which of a run's examples are done, to tell how far from the start of the task every one
/// is (passes may finish out of task order).
struct Finished {
    /// The examples not done yet, in task order.
    due: std::collections::VecDeque<usize>,
    /// Done ahead of one still due.
    ahead: std::collections::BTreeSet<usize>,
}

impl Finished {
    fn new(jobs: &[Job]) -> Self {
        let mut due: Vec<usize> = jobs.iter().flat_map(|job| job.indices().iter().copied()).collect();
        due.sort_unstable();
        Finished { due: due.into(), ahead: Default::default() }
    }

    /// Marks `index` done; returns the last example of the run done with every one before it,
    /// when that moved on.
    fn add(&mut self, index: usize) -> Option<usize> {
        self.ahead.insert(index);
        let mut through = None;
        while let Some(&next) = self.due.front().filter(|next| self.ahead.remove(next)) {
            self.due.pop_front();
            through = Some(next);
        }
        through
    }
}

/// One unit of scoring: one pass over examples (task indices), or one numeric example's samples.
enum Job {
    Pass(Vec<usize>),
    Sample(usize),
}

impl Job {
    fn indices(&self) -> &[usize] {
        match self {
            Job::Pass(indices) => indices,
            Job::Sample(index) => std::slice::from_ref(index),
        }
    }
}

/// What scoring a job needs; shared by the threads that score them.
struct Scoring<'a, S: Scorer> {
    scorer: &'a S,
    task: &'a Task,
    plan: &'a Plan,
    seed: u64,
    cache: Mutex<PrefixCache<'a, S::Prefix>>,
}

impl<S: Scorer> Scoring<'_, S> {
    async fn score(&self, job: &Job) -> Result<Vec<ExampleResult>, RunError> {
        let scorer = self.scorer;
        let prepared = &self.plan.prepared;
        // A prefix is read by the first job that needs it, while the others wait.
        let common =
            |index: usize| self.plan.prefixes.base(index).map(|b| self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(scorer, b));
        match job {
            Job::Sample(index) => {
                let index = *index;
                let Prepared::Numeric { prompt } = &prepared[index].input else {
                    return Err(TaskError::file(format!("example {index} of a numeric task is not a numeric example")).into());
                };
                let mut rng = Rng::new(self.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let continuations = scorer.sample(prompt, common(index).as_ref(), &mut rng).await?;
                let texts = continuations.iter().map(|ids| scorer.tokenizer().decode(ids)).collect::<Result<Vec<_>, _>>()?;
                Ok(vec![ExampleResult { index, metrics: metrics::numeric(&texts), truncated: prepared[index].truncated }])
            }
            Job::Pass(indices) => {
                let kinds: Vec<_> = indices.iter().map(|&i| &self.task.examples[i].kind).collect();
                let groups: Vec<Group> = indices.iter().map(|&i| self.plan.groups[i].clone()).collect();
                let common = common(indices[0]);
                let metrics =
                    score::score_batch(scorer, self.task.task_type, &kinds, &groups, common.as_ref(), &self.plan.batching).await?;
                if let Some((&index, _)) = indices.iter().zip(&metrics).find(|(_, m)| !m.is_finite()) {
                    return Err(RunError::NonFinite { index });
                }
                Ok(indices
                    .iter()
                    .zip(metrics)
                    .map(|(&index, metrics)| ExampleResult { index, metrics, truncated: prepared[index].truncated })
                    .collect())
            }
        }
    }
}

/// Scores `jobs` on `threads` threads, each taking the next job as it finishes one, and
/// delivers their results in the jobs' order. An error or a cancel stops the threads after the
/// jobs they hold.
#[cfg(not(target_family = "wasm"))]
fn on_threads<S: Scorer + Sync>(
    scoring: &Scoring<'_, S>,
    jobs: &[Job],
    threads: usize,
    deliver: &mut impl FnMut(Vec<ExampleResult>) -> Result<(), RunError>,
) -> Result<(), RunError>
where
    S::Prefix: Send,
{
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (next, stop) = (AtomicUsize::new(0), AtomicBool::new(false));
    std::thread::scope(|scope| {
        let (sender, scored) = std::sync::mpsc::channel();
        for _ in 0..threads.min(jobs.len()) {
            let sender = sender.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || loop {
                let job = next.fetch_add(1, Ordering::Relaxed);
                if job >= jobs.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                let results = pollster::block_on(scoring.score(&jobs[job]));
                if sender.send((job, results)).is_err() {
                    break;
                }
            });
        }
        drop(sender);
        let mut waiting = std::collections::BTreeMap::new();
        let mut due = 0;
        for (job, results) in scored {
            waiting.insert(job, results);
            while let Some(results) = waiting.remove(&due) {
                due += 1;
                if let Err(e) = results.and_then(&mut *deliver) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(())
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_done_from_the_start_move_on_only_without_a_gap() {
        // A run of examples 2, 3, 5, 6, 9 (the others kept), in passes out of task order.
        let jobs = [Job::Pass(vec![3, 6]), Job::Pass(vec![2, 9]), Job::Sample(5)];
        let mut finished = Finished::new(&jobs);
        assert_eq!(finished.add(3), None);
        assert_eq!(finished.add(6), None);
        assert_eq!(finished.add(2), Some(3));
        assert_eq!(finished.add(9), None);
        assert_eq!(finished.add(5), Some(9));
    }
}
