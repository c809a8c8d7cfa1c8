//! An evaluation: one task scored by several models, one after another. It keeps what each
//! model scored (all of the task, or part of it when a run was cut short) and gives their
//! reports, summaries and the trend across sizes. The CLI and the worker both drive it; they
//! only load the models and say what happened.

use crate::checkpoint::Checkpoint;
use crate::report::{results_csv, run_trend, ModelReport, ModelResults, ModelSummary};
use crate::run::{run_task, Control, ExampleResult, RunError, RunOptions};
use crate::stats::trend::Trend;
use crate::task::Task;

/// Two models of one evaluation with one name: their results would be one file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("two models are named `{0}`; their results would overwrite each other")]
pub struct DuplicateModelName(pub String);

/// Refuses an evaluation whose models' names are not all different (the CLI and the page
/// check before any model is loaded).
pub fn check_model_names<S: AsRef<str>>(names: &[S]) -> Result<(), DuplicateModelName> {
    for (i, name) in names.iter().enumerate() {
        if names[..i].iter().any(|earlier| earlier.as_ref() == name.as_ref()) {
            return Err(DuplicateModelName(name.as_ref().to_string()));
        }
    }
    Ok(())
}

/// One model's results on the evaluation's task.
#[derive(Clone, Debug)]
pub struct ScoredModel {
    pub name: String,
    pub parameters: u64,
    /// In task order; fewer than the task's examples for a partial model.
    pub results: Vec<ExampleResult>,
}

impl ScoredModel {
    pub fn summary(&self, task: &Task) -> ModelSummary {
        ModelSummary::of(&self.name, self.parameters, task, &self.results)
    }

    /// The model's part of the JSON bundle (marked partial when it did not score every example).
    pub fn report(&self, task: &Task) -> ModelReport {
        ModelReport::new(self.summary(task), task, &self.results)
    }

    /// The pipeline's results CSV.
    pub fn csv(&self, task: &Task) -> String {
        results_csv(task, &self.results)
    }
}

pub struct Evaluation<'t> {
    pub task: &'t Task,
    models: Vec<ScoredModel>,
}

impl<'t> Evaluation<'t> {
    pub fn new(task: &'t Task) -> Self {
        Evaluation { task, models: Vec::new() }
    }

    /// Scores the task with `checkpoint` ([`run_task`]) and keeps the results under `name`.
    pub async fn run(
        &mut self,
        name: &str,
        checkpoint: &Checkpoint,
        options: RunOptions,
        on_result: impl FnMut(&ExampleResult, usize) -> Control,
    ) -> Result<&ScoredModel, RunError> {
        let results = run_task(checkpoint, self.task, options, on_result).await?;
        Ok(self.add(name, checkpoint.config.parameter_count(), results))
    }

    /// Keeps results scored elsewhere: a model whose every example an earlier run kept.
    pub fn add(&mut self, name: &str, parameters: u64, results: Vec<ExampleResult>) -> &ScoredModel {
        self.models.push(ScoredModel { name: name.to_string(), parameters, results });
        self.models.last().expect("just pushed")
    }

    /// The models kept so far, in the order they were run.
    pub fn models(&self) -> &[ScoredModel] {
        &self.models
    }

    pub fn summaries(&self) -> Vec<ModelSummary> {
        self.models.iter().map(|m| m.summary(self.task)).collect()
    }

    /// The main metric's shape across the models' sizes (see [`run_trend`]); `None` with fewer
    /// than two models, or for numeric tasks.
    pub fn trend(&self) -> Option<Trend> {
        self.trend_among(|_| true)
    }

    /// [`Self::trend`] among the models (by position) that `keep` keeps, e.g. one family's.
    pub fn trend_among(&self, keep: impl Fn(usize) -> bool) -> Option<Trend> {
        let runs: Vec<ModelResults> = (self.models.iter().enumerate())
            .filter(|(i, _)| keep(*i))
            .map(|(_, m)| ModelResults { name: &m.name, parameters: m.parameters, results: &m.results })
            .collect();
        run_trend(&runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_given_twice_is_refused() {
        assert_eq!(check_model_names(&["gpt2", "gpt2-medium"]), Ok(()));
        assert_eq!(check_model_names(&["gpt2", "gpt2-medium", "gpt2"]), Err(DuplicateModelName("gpt2".into())));
        assert!(DuplicateModelName("gpt2".into()).to_string().contains("two models are named `gpt2`"));
    }
}
