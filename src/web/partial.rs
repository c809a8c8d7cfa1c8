//! The report of a model whose run was cut short (cancelled, failed, or a tab closed before
//! it finished): the examples it kept, summarised and marked partial, for the exports.

use serde_json::json;
use wasm_bindgen::prelude::*;

use super::protocol::JobRequest;
use crate::evaluation::ScoredModel;
use crate::run::{kept_in_order, ExampleResult};

/// `request` and `task` as given to [`run_job`](super::run_job), the model's name and
/// parameter count, and its kept results (a JSON array of `example` events' `result`s).
/// Returns JSON `{report, csv}`, the report marked `partial`.
#[wasm_bindgen]
pub fn partial_report(request: &str, task: &[u8], name: &str, parameters: f64, results: &str) -> Result<String, JsError> {
    let request: JobRequest = serde_json::from_str(request).map_err(|e| JsError::new(&format!("bad job request: {e}")))?;
    let task = request.task_spec().load(task)?;
    let kept: Vec<ExampleResult> = serde_json::from_str(results).map_err(|e| JsError::new(&format!("kept results: {e}")))?;
    let results = kept_in_order(&task, kept).map_err(|e| JsError::new(&e.to_string()))?;
    let scored = ScoredModel { name: name.to_string(), parameters: parameters as u64, results };
    Ok(json!({ "report": scored.report(&task), "csv": scored.csv(&task) }).to_string())
}
