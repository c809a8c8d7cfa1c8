//! Results in the prize pipeline's CSV format, and the JSON summary and bundle of a run.

mod bundle;
mod example_changes;
mod pipeline_csv;

use serde::{Deserialize, Serialize};

pub use bundle::{ComparedSetting, ResultsBundle, Timing};
pub use example_changes::{example_changes, ExampleChange, ExampleChanges};
pub use pipeline_csv::{python_repr, results_csv};

use crate::hub::HubRef;
use crate::model::Precision;
use crate::run::ExampleResult;
use crate::score::{Metrics, Truncation};
use crate::stats::trend::{trend, Along, Curve, Trend, TrendSettings};
use crate::stats::{model_stats, ModelStats};
use crate::task::{FewShot, Task};

/// One model's line in `summary.json`.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    pub parameters: u64,
    /// The model's family (`GPT-2`, `GPT-NeoX`, …), where the caller gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// The Hub revision it was scored at, when one was named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The training step that revision names (`step3000`, `checkpoint-3000`: 3000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    #[serde(flatten)]
    pub stats: ModelStats,
}

impl ModelSummary {
    /// Aggregates one model's results on `task`.
    pub fn of(name: &str, parameters: u64, task: &Task, results: &[ExampleResult]) -> Self {
        let metrics: Vec<_> = results.iter().map(|r| r.metrics.clone()).collect();
        let class_counts: Vec<_> = results.iter().map(|r| task.examples[r.index].kind.classes().len()).collect();
        let truncated: Vec<_> = results.iter().map(|r| r.truncated).collect();
        let stats = model_stats(task.task_type, &metrics, &class_counts, &truncated);
        ModelSummary { name: name.to_string(), parameters, family: None, revision: None, step: None, stats }
    }

    /// The same summary with where the model came from: its family and Hub revision (and the
    /// training step the revision names, if any).
    pub fn from_source(self, source: &ModelOrigin) -> Self {
        ModelSummary { family: source.family.clone(), revision: source.revision.clone(), step: source.step(), ..self }
    }
}

/// Where a scored model came from, as far as the caller knows.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct ModelOrigin {
    /// `GPT-2`, `OPT`, … (the config's [`Family`](crate::model::Family) name).
    #[serde(default)]
    pub family: Option<String>,
    /// The Hub repository (`EleutherAI/pythia-160m`); none for a local folder.
    #[serde(default)]
    pub repo: Option<String>,
    /// The Hub revision, when one other than `main` was named (`main` given is none).
    #[serde(default, deserialize_with = "revision_not_main")]
    pub revision: Option<String>,
}

fn revision_not_main<'de, D: serde::Deserializer<'de>>(revision: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(revision)?.filter(|r| r != "main"))
}

impl ModelOrigin {
    /// A model of the Hub repository `repo` at `revision`: the revision is kept unless it is
    /// `main`.
    pub fn hub(repo: &HubRef) -> Self {
        ModelOrigin { repo: Some(repo.id.clone()), revision: repo.named_revision().map(str::to_string), family: None }
    }

    /// The training step the revision names.
    pub fn step(&self) -> Option<u64> {
        self.revision.as_deref().and_then(training_step)
    }
}

/// The training step a checkpoint revision names: Pythia's `step143000`, the CRFM runs'
/// `checkpoint-400000`.
pub fn training_step(revision: &str) -> Option<u64> {
    let digits = revision.strip_prefix("step").or_else(|| revision.strip_prefix("checkpoint-"))?;
    digits.parse().ok()
}

/// One model in the JSON bundle: its summary and one row per example, keyed by the
/// pipeline's result columns with the pipeline's values (`correct` is `1` or `0`), plus each
/// class's log-prob and probability (renormalised over the classes) and whether the input
/// was truncated.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    #[serde(flatten)]
    pub summary: ModelSummary,
    /// Set when only some examples were scored (a run cut short): the summary is theirs alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
    /// How long it took, where the caller measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    #[cfg_attr(target_family = "wasm", tsify(type = "Record<string, unknown>[]"))]
    pub rows: Vec<serde_json::Value>,
}

/// How much of the task a partial report covers.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    pub scored: usize,
    pub examples: usize,
}

impl ModelReport {
    /// The report of `results`, marked partial when they do not cover every example of `task`.
    pub fn new(summary: ModelSummary, task: &Task, results: &[ExampleResult]) -> Self {
        let partial = (results.len() < task.examples.len()).then_some(Partial { scored: results.len(), examples: task.examples.len() });
        ModelReport { summary, partial, timing: None, rows: results.iter().map(|r| result_row(task, r)).collect() }
    }
}

fn result_row(task: &Task, r: &ExampleResult) -> serde_json::Value {
    use serde_json::json;
    match &r.metrics {
        Metrics::Classification { loss, correct, predicted, total_logprob, class_logprobs } => {
            let classes = task.examples[r.index].kind.classes();
            let probabilities: Vec<f64> = class_logprobs.iter().map(|lp| (lp - total_logprob).exp()).collect();
            json!({
                "index": r.index, "loss": loss, "correct": u8::from(*correct), "predicted": classes[*predicted],
                "total_logprob": total_logprob, "class_logprobs": class_logprobs,
                "class_probabilities": probabilities, "truncated": r.truncated,
            })
        }
        Metrics::SequenceProb { loss } => json!({ "index": r.index, "loss": loss, "truncated": r.truncated }),
        Metrics::Logodds { logodds_difference, correct, total_logprob } => json!({
            "index": r.index, "logodds_difference": logodds_difference, "correct": u8::from(*correct),
            "total_logprob": total_logprob, "truncated": r.truncated,
        }),
        Metrics::Numeric { estimate, samples } => json!({
            "index": r.index, "estimate": estimate, "samples": samples, "truncated": r.truncated,
        }),
    }
}

/// `summary.json`: what was run and each model's aggregates.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    pub task: String,
    pub task_type: &'static str,
    pub examples: usize,
    pub truncation: &'static str,
    /// The few-shot prompts the task was turned into, if any.
    pub few_shot: Option<FewShot>,
    /// Storage of the weight matrices: `f32`, or `f16` (numbers differ slightly from the reference).
    pub precision: &'static str,
    pub warnings: Vec<String>,
    pub models: Vec<ModelSummary>,
    #[serde(flatten)]
    pub trends: Trends,
}

/// The metric's shapes among a run's models.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, Default, Serialize)]
pub struct Trends {
    /// Across model sizes (checkpoints in a trend through training aside); absent with fewer
    /// than two models or examples.
    pub trend: Option<Trend>,
    /// With models of several families, the shape within each family that has two or more.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub family_trends: Vec<FamilyTrend>,
    /// Through training: for each Hub model scored at two or more training steps, the shape
    /// over its steps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub training_trends: Vec<TrainingTrend>,
}

/// The trend among one family's models.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FamilyTrend {
    pub family: String,
    pub trend: Trend,
}

/// The trend over one model's checkpoints, in order of training step.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingTrend {
    /// The repository's name (`pythia-160m`).
    pub model: String,
    pub repo: String,
    pub parameters: u64,
    pub trend: Trend,
}

impl RunSummary {
    pub fn new(
        task_name: &str,
        task: &Task,
        truncation: Truncation,
        few_shot: Option<FewShot>,
        precision: Precision,
        models: Vec<ModelSummary>,
        trends: Trends,
    ) -> Self {
        RunSummary {
            task: task_name.to_string(),
            task_type: task.task_type.name(),
            examples: task.examples.len(),
            truncation: truncation.name(),
            few_shot,
            precision: precision.name(),
            warnings: task.warnings.iter().map(|w| w.to_string()).collect(),
            models,
            trends,
        }
    }
}

/// One model's results, for [`run_trend`].
pub struct ModelResults<'a> {
    pub name: &'a str,
    pub parameters: u64,
    pub step: Option<u64>,
    pub results: &'a [ExampleResult],
}

/// The trend of the main metric over the examples every model scored (a cancelled or failed
/// model may have scored fewer), with the default bootstrap settings. None for numeric tasks:
/// an estimate has no better direction. `along` orders the models by size or by training step.
pub fn run_trend(models: &[ModelResults], along: Along) -> Option<Trend> {
    if models.iter().flat_map(|m| m.results).any(|r| matches!(r.metrics, Metrics::Numeric { .. })) {
        return None;
    }
    let scored_by_all = |index: usize| models.iter().all(|m| m.results.iter().any(|r| r.index == index));
    let common: Vec<usize> = models.first()?.results.iter().map(|r| r.index).filter(|&i| scored_by_all(i)).collect();
    let values: Vec<Vec<f64>> = models
        .iter()
        .map(|m| {
            let by_index: std::collections::HashMap<usize, f64> = m.results.iter().map(|r| (r.index, r.metrics.value())).collect();
            common.iter().map(|i| by_index[i]).collect()
        })
        .collect();
    let curves: Vec<Curve> =
        models.iter().zip(&values).map(|(m, v)| Curve { name: m.name, parameters: m.parameters, step: m.step, values: v }).collect();
    trend(&curves, TrendSettings { along, ..TrendSettings::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_models_origin_records_a_revision_other_than_main() {
        let origin = |json: &str| serde_json::from_str::<ModelOrigin>(json).unwrap();
        let hub = |spec: &str| ModelOrigin::hub(&HubRef::parse(spec).unwrap().unwrap());
        assert_eq!(origin(r#"{"repo": "EleutherAI/pythia-160m", "revision": "main"}"#).revision, None);
        assert_eq!(origin(r#"{"repo": "EleutherAI/pythia-160m", "revision": "step3000"}"#), hub("hub:EleutherAI/pythia-160m@step3000"));
        assert_eq!(hub("hub:EleutherAI/pythia-160m@step3000").step(), Some(3000));
        assert_eq!(hub("hub:openai-community/gpt2"), ModelOrigin { repo: Some("openai-community/gpt2".into()), ..ModelOrigin::default() });
    }
}
