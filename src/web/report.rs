//! Reports on the page: the workers score (each its share of the task) and the page puts what
//! they scored together here, each model's results (kept from an earlier run and new) into its
//! report and the pipeline's CSV, and the models into the trend. A model whose run was cut
//! short (cancelled, failed, a tab closed) gets its report marked partial.

use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::prelude::*;

use super::protocol::JobRequest;
use crate::evaluation::Evaluation;
use crate::report::ModelOrigin;
use crate::run::{kept_in_order, ExampleResult};

#[derive(Deserialize)]
struct Scored {
    name: String,
    parameters: u64,
    /// `{family, repo, revision}`, as far as the page knows.
    #[serde(default)]
    source: ModelOrigin,
    /// As `example` events' `result`s, in any order.
    results: Vec<ExampleResult>,
}

/// `request` and `task` as given to [`run_job`](super::run_job); `models` a JSON array of
/// `{name, parameters, source, results}`. Returns JSON `{models: [{report, csv}], trend,
/// family_trends, training_trends, examples}` ([`Trends`](crate::report::Trends), and
/// [`ExampleChanges`](crate::report::ExampleChanges) for the examples view), the trend null
/// with fewer than two models (and for numeric tasks).
#[wasm_bindgen]
pub fn evaluation_report(request: &str, task: &[u8], models: &str) -> Result<String, JsError> {
    let request: JobRequest = serde_json::from_str(request).map_err(|e| JsError::new(&format!("bad job request: {e}")))?;
    let task = request.task_spec().load(task)?;
    let models: Vec<Scored> = serde_json::from_str(models).map_err(|e| JsError::new(&format!("scored models: {e}")))?;
    let mut evaluation = Evaluation::new(&task);
    let mut reports = Vec::new();
    for model in models {
        let results = kept_in_order(&task, model.results).map_err(|e| JsError::new(&format!("{}: {e}", model.name)))?;
        let scored = evaluation.add(&model.name, model.parameters, model.source, results);
        reports.push(json!({ "report": scored.report(&task), "csv": scored.csv(&task) }));
    }
    let mut out = serde_json::to_value(evaluation.trends()).expect("trends serialise");
    out["models"] = reports.into();
    out["examples"] = serde_json::to_value(evaluation.example_changes()).expect("examples serialise");
    Ok(out.to_string())
}
