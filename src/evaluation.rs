//! An evaluation: one task scored by several models, one after another. It keeps what each
//! model scored (all of the task, or part of it when a run was cut short) and gives their
//! reports, summaries and the trend across sizes. The CLI and the worker both drive it; they
//! only load the models and say what happened.

use crate::checkpoint::Checkpoint;
use crate::report::{
    example_changes, results_csv, run_trend, ExampleChanges, FamilyTrend, ModelOrigin, ModelReport, ModelResults, ModelSummary,
    TrainingTrend, Trends,
};
use crate::run::{run_task, Control, ExampleResult, RunError, RunOptions};
use crate::stats::trend::{Along, Trend};
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
    pub source: ModelOrigin,
    /// In task order; fewer than the task's examples for a partial model.
    pub results: Vec<ExampleResult>,
}

impl ScoredModel {
    pub fn summary(&self, task: &Task) -> ModelSummary {
        ModelSummary::of(&self.name, self.parameters, task, &self.results).from_source(&self.source)
    }

    fn results(&self, along: Along) -> ModelResults<'_> {
        let step = if along == Along::Steps { self.source.step() } else { None };
        ModelResults { name: &self.name, parameters: self.parameters, step, results: &self.results }
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

pub struct Evaluation {
    pub task: Task,
    models: Vec<ScoredModel>,
}

impl Evaluation {
    pub fn new(task: Task) -> Self {
        Evaluation { task, models: Vec::new() }
    }

    /// Scores the task with `checkpoint` ([`run_task`]) and keeps the results under `name`;
    /// `source` says where it came from (its family is the checkpoint's).
    pub async fn run(
        &mut self,
        name: &str,
        source: ModelOrigin,
        checkpoint: &Checkpoint,
        options: RunOptions,
        on_result: impl FnMut(&ExampleResult, usize) -> Control,
    ) -> Result<&ScoredModel, RunError> {
        let results = run_task(checkpoint, &self.task, options, on_result).await?;
        let source = ModelOrigin { family: Some(checkpoint.config.family().name().to_string()), ..source };
        Ok(self.add(name, checkpoint.config.parameter_count(), source, results))
    }

    /// Keeps results scored elsewhere: a model whose every example an earlier run kept, or
    /// the shares of the page's workers.
    pub fn add(&mut self, name: &str, parameters: u64, source: ModelOrigin, results: Vec<ExampleResult>) -> &ScoredModel {
        self.models.push(ScoredModel { name: name.to_string(), parameters, source, results });
        self.models.last().expect("just pushed")
    }

    /// The models kept so far, in the order they were run.
    pub fn models(&self) -> &[ScoredModel] {
        &self.models
    }

    pub fn summaries(&self) -> Vec<ModelSummary> {
        self.models.iter().map(|m| m.summary(&self.task)).collect()
    }

    /// The main metric's shape (see [`run_trend`]) among the models `keep` keeps, along their
    /// sizes or training steps; `None` with fewer than two, or for numeric tasks.
    fn trend_among(&self, keep: impl Fn(&ScoredModel) -> bool, along: Along) -> Option<Trend> {
        let runs: Vec<ModelResults> = self.models.iter().filter(|m| keep(m)).map(|m| m.results(along)).collect();
        run_trend(&runs, along)
    }

    /// How each example fares from the smallest model to the largest.
    pub fn example_changes(&self) -> ExampleChanges {
        let models: Vec<ModelResults> = self.models.iter().map(|m| m.results(Along::Steps)).collect();
        example_changes(&models, self.task.examples.len())
    }

    /// Every shape the models show: over the training steps of each Hub model scored at two
    /// or more of them; across the sizes of the other models; and within each of their
    /// families when there are several.
    pub fn trends(&self) -> Trends {
        let mut training_repos: Vec<&str> = Vec::new();
        for m in &self.models {
            let (Some(repo), Some(step)) = (m.source.repo.as_deref(), m.source.step()) else { continue };
            let other_step = |o: &ScoredModel| o.source.repo.as_deref() == Some(repo) && o.source.step().is_some_and(|s| s != step);
            if !training_repos.contains(&repo) && self.models.iter().any(other_step) {
                training_repos.push(repo);
            }
        }
        let through_training =
            |m: &ScoredModel| m.source.repo.as_deref().is_some_and(|r| training_repos.contains(&r) && m.source.step().is_some());
        let mut families: Vec<&str> = Vec::new();
        for m in self.models.iter().filter(|m| !through_training(m)) {
            if let Some(family) = m.source.family.as_deref().filter(|f| !families.contains(f)) {
                families.push(family);
            }
        }
        let family_trends = if families.len() > 1 {
            let trend_of =
                |family: &str| self.trend_among(|m| !through_training(m) && m.source.family.as_deref() == Some(family), Along::Size);
            families.iter().filter_map(|&f| Some(FamilyTrend { family: f.to_string(), trend: trend_of(f)? })).collect()
        } else {
            Vec::new()
        };
        let training_trends = training_repos
            .iter()
            .filter_map(|&repo| {
                let checkpoint_of = |m: &ScoredModel| m.source.repo.as_deref() == Some(repo) && m.source.step().is_some();
                let trend = self.trend_among(checkpoint_of, Along::Steps)?;
                let first = self.models.iter().find(|m| checkpoint_of(m))?;
                let model = repo.rsplit('/').next().unwrap_or(repo).to_string();
                Some(TrainingTrend { model, repo: repo.to_string(), parameters: first.parameters, trend })
            })
            .collect();
        Trends { trend: self.trend_among(|m| !through_training(m), Along::Size), family_trends, training_trends }
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
