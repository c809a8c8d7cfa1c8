//! `results.json`: a run's settings, every model's report and the trends, as one file. The
//! page writes it as its export and the CLI with `--bundle`; both go through this type, so
//! the two write one schema.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{FamilyTrend, ModelReport, TrainingTrend};
use crate::stats::trend::Trend;
use crate::task::FewShot;

#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultsBundle {
    /// The task's name (a file name, or `hub:owner/repo@revision/path`).
    pub task: String,
    pub task_type: String,
    pub examples: usize,
    /// `pipeline` or `keep-scored`: the run's own, as it started.
    pub truncation: String,
    /// The few-shot prompts the task was turned into, if any.
    pub few_shot: Option<FewShot>,
    /// What scored: `cpu`, `wgpu` (natively) or `webgpu` (in the page).
    pub backend: String,
    /// Scorers that shared each model's examples (the page's workers, the CLI's threads).
    pub workers: usize,
    /// Storage of the weight matrices: `f32` or `f16`.
    pub precision: String,
    /// Every model scored every example, none failed and the run was not cancelled.
    pub complete: bool,
    pub models: Vec<ModelReport>,
    /// Models cut short: the examples they scored, summarised; not in the trends.
    #[serde(default)]
    pub partial_models: Vec<ModelReport>,
    /// Across sizes, as `summary.json`'s.
    pub trend: Option<Trend>,
    /// With settings compared: each setting's models and trend (the fields above are the last
    /// setting's).
    #[serde(default)]
    pub comparison: Vec<ComparedSetting>,
    #[serde(default)]
    pub family_trends: Vec<FamilyTrend>,
    #[serde(default)]
    pub training_trends: Vec<TrainingTrend>,
}

/// One setting of a comparison (zero-shot against k-shot, say) and what its run gave.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null, hashmap_as_object))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComparedSetting {
    pub label: String,
    /// The settings this run changed, by name (`truncation`, `shots`, `precision`).
    pub settings: BTreeMap<String, String>,
    pub models: Vec<ModelReport>,
    pub trend: Option<Trend>,
}

/// Where one model's time went.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub load_seconds: f64,
    pub score_seconds: f64,
    /// Examples taken from an interrupted run rather than scored now.
    pub restored_examples: usize,
    /// Scorers that shared the model (the longest of their times is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// The page's wasm heap before the model was loaded, and after it was scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_memory_before_load_bytes: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm_memory_bytes: Option<f64>,
}

impl ResultsBundle {
    /// The bundle as the file holds it.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a bundle serialises")
    }
}
