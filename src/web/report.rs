//! Reports on the page: the workers score (each its share of the task) and the page puts what
//! they scored together here, in a [`PageEvaluation`] it keeps for the run: each model's
//! results (kept from an earlier run and new) into its report and the pipeline's CSV, and the
//! models into the trend. A model whose run was cut short (cancelled, failed, a tab closed)
//! gets its report marked partial. `results.json` is written here too.

use serde::{Deserialize, Serialize};
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use super::boundary::{from_page, to_page};
use super::protocol::JobRequest;
use crate::evaluation::{Evaluation, ScoredModel};
use crate::report::{ExampleChanges, ModelOrigin, ModelReport, ResultsBundle, Trends};
use crate::run::{kept_in_order, ExampleResult};
use crate::task::Task;

/// A model the page's workers scored.
#[derive(Deserialize, Tsify)]
#[tsify(missing_as_null)]
pub struct Scored {
    name: String,
    parameters: u64,
    /// `{family, repo, revision}`, as far as the page knows (`main` names no revision).
    #[serde(default)]
    source: ModelOrigin,
    /// As `example` events' `result`s, in any order.
    results: Vec<ExampleResult>,
}

impl Scored {
    /// The page's scored model, its results checked against `task` and put in task order.
    fn read(model: Ts<Scored>, task: &Task) -> Result<Scored, JsError> {
        let mut model = from_page(model, "scored model")?;
        model.results = kept_in_order(task, model.results).map_err(|e| JsError::new(&format!("{}: {e}", model.name)))?;
        Ok(model)
    }
}

/// A model's report and the pipeline's CSV of its results.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct ModelOutput {
    report: ModelReport,
    csv: String,
}

impl ModelOutput {
    fn of(model: &ScoredModel, task: &Task) -> ModelOutput {
        ModelOutput { report: model.report(task), csv: model.csv(task) }
    }
}

/// The reports of the models added, their trends (the overall one null with fewer than two
/// models, and for numeric tasks) and how each example changes along them.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct PageReport {
    models: Vec<ModelOutput>,
    #[serde(flatten)]
    trends: Trends,
    examples: ExampleChanges,
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
    pub fn new(request: Ts<JobRequest>, task: &[u8]) -> Result<PageEvaluation, JsError> {
        let request = from_page(request, "job request")?;
        Ok(PageEvaluation { evaluation: Evaluation::new(request.task_spec().load(task)?) })
    }

    /// Adds a scored model (its results as `example` events' `result`s, in any order); throws,
    /// adding nothing, when they do not fit the task.
    pub fn add(&mut self, model: Ts<Scored>) -> Result<(), JsError> {
        let model = Scored::read(model, &self.evaluation.task)?;
        self.evaluation.add(&model.name, model.parameters, model.source, model.results);
        Ok(())
    }

    /// The reports of the models added.
    pub fn report(&self) -> Result<Ts<PageReport>, JsError> {
        let task = &self.evaluation.task;
        to_page(&PageReport {
            models: self.evaluation.models().iter().map(|m| ModelOutput::of(m, task)).collect(),
            trends: self.evaluation.trends(),
            examples: self.evaluation.example_changes(),
        })
    }

    /// The report of a model cut short (given as to [`PageEvaluation::add`], not added), marked
    /// partial.
    pub fn partial(&self, model: Ts<Scored>) -> Result<Ts<ModelOutput>, JsError> {
        let task = &self.evaluation.task;
        let model = Scored::read(model, task)?;
        let scored = ScoredModel { name: model.name, parameters: model.parameters, source: model.source, results: model.results };
        to_page(&ModelOutput::of(&scored, task))
    }
}

/// `results.json` of the page's `bundle`, as the file holds it: checked against
/// [`ResultsBundle`], the schema the CLI's `--bundle` writes too. An error names the field.
#[wasm_bindgen]
pub fn results_bundle(bundle: Ts<ResultsBundle>) -> Result<String, JsError> {
    Ok(from_page(bundle, "results.json")?.to_json())
}
