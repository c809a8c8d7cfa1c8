//! Reports on the page: the workers score (each its share of the task) and the page puts what
//! they scored together here, in a [`PageEvaluation`] it keeps for the run: each model's
//! results (kept from an earlier run and new) into its report and the pipeline's CSV, and the
//! models into the trend. A model whose run was cut short (cancelled, failed, a tab closed)
//! gets its report marked partial. `results.json` is written here too.

use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::prelude::*;

use super::protocol::JobRequest;
use crate::evaluation::{Evaluation, ScoredModel};
use crate::report::{ModelOrigin, ResultsBundle};
use crate::run::{kept_in_order, ExampleResult};
use crate::task::Task;

#[derive(Deserialize)]
struct Scored {
    name: String,
    parameters: u64,
    /// `{family, repo, revision}`, as far as the page knows (`main` names no revision).
    #[serde(default)]
    source: ModelOrigin,
    /// As `example` events' `result`s, in any order.
    results: Vec<ExampleResult>,
}

impl Scored {
    /// `{name, parameters, source, results}` (JSON), its results checked against `task` and put
    /// in task order.
    fn read(model: &str, task: &Task) -> Result<Scored, JsError> {
        let mut model: Scored = serde_json::from_str(model).map_err(|e| JsError::new(&format!("scored model: {e}")))?;
        model.results = kept_in_order(task, model.results).map_err(|e| JsError::new(&format!("{}: {e}", model.name)))?;
        Ok(model)
    }
}

/// A run's evaluation on the page: the task read once (as the workers read it, from the job's
/// request), each model's results added once all its workers are done, and the reports, CSVs
/// and trends asked for as models finish.
#[wasm_bindgen]
pub struct PageEvaluation {
    evaluation: Evaluation,
}

#[wasm_bindgen]
impl PageEvaluation {
    /// `request` and `task` as given to [`run_job`](super::run_job).
    #[wasm_bindgen(constructor)]
    pub fn new(request: &str, task: &[u8]) -> Result<PageEvaluation, JsError> {
        let request: JobRequest = serde_json::from_str(request).map_err(|e| JsError::new(&format!("bad job request: {e}")))?;
        Ok(PageEvaluation { evaluation: Evaluation::new(request.task_spec().load(task)?) })
    }

    /// Adds a scored model, JSON `{name, parameters, source, results}` (results as `example`
    /// events' `result`s, in any order); throws, adding nothing, when they do not fit the task.
    pub fn add(&mut self, model: &str) -> Result<(), JsError> {
        let model = Scored::read(model, &self.evaluation.task)?;
        self.evaluation.add(&model.name, model.parameters, model.source, model.results);
        Ok(())
    }

    /// JSON `{models: [{report, csv}], trend, family_trends, training_trends, examples}` of the
    /// models added ([`Trends`](crate::report::Trends), and
    /// [`ExampleChanges`](crate::report::ExampleChanges) for the examples view), the trend null
    /// with fewer than two models (and for numeric tasks).
    pub fn report(&self) -> String {
        let task = &self.evaluation.task;
        let reports: Vec<_> = self.evaluation.models().iter().map(|m| json!({ "report": m.report(task), "csv": m.csv(task) })).collect();
        let mut out = serde_json::to_value(self.evaluation.trends()).expect("trends serialise");
        out["models"] = reports.into();
        out["examples"] = serde_json::to_value(self.evaluation.example_changes()).expect("examples serialise");
        out.to_string()
    }

    /// JSON `{report, csv}` of a model cut short (given as to [`PageEvaluation::add`], not
    /// added): its report marked partial.
    pub fn partial(&self, model: &str) -> Result<String, JsError> {
        let task = &self.evaluation.task;
        let model = Scored::read(model, task)?;
        let scored = ScoredModel { name: model.name, parameters: model.parameters, source: model.source, results: model.results };
        Ok(json!({ "report": scored.report(task), "csv": scored.csv(task) }).to_string())
    }
}

/// `results.json` from the page's `bundle` (JSON): checked against [`ResultsBundle`], the schema
/// the CLI's `--bundle` writes too, and written as the file holds it. An error names the field.
#[wasm_bindgen]
pub fn results_bundle(bundle: &str) -> Result<String, JsError> {
    let bundle: ResultsBundle = serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(bundle))
        .map_err(|e| JsError::new(&format!("results.json: `{}`: {}", e.path(), e.inner())))?;
    Ok(bundle.to_json())
}
