//! A parsed task as the page shows it: type, examples and warnings, or the parser's
//! row/column error.

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

use crate::task::{
    class_tokens, fill_template, parse_task as parse_task_file, to_jsonl, ExampleKind, FewShot, Task, TaskError, TaskSpec, TaskType,
};
use crate::tokenizer::{Tokenizer, TokenizerFiles};

/// Parses a task file's bytes with the CLI's parser and, with `shots` > 0, builds its few-shot
/// prompts with `seed` as the worker will. Returns JSON `{task_type, metric, shared_prompt,
/// examples: [{row, prompt, own_prompt, …}], warnings}` (`shared_prompt` is the text every
/// prompt starts with, `own_prompt` the rest of each); throws the parser's error (which names
/// the row and column) as an `Error`.
#[wasm_bindgen]
pub fn parse_task(bytes: &[u8], type_name: Option<String>, shots: Option<u32>, seed: Option<f64>) -> Result<String, JsError> {
    let task_type = match type_name.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(name) => Some(TaskType::parse_name(name)?),
        None => None,
    };
    let few_shot = shots.map(|shots| FewShot { shots: shots as usize, seed: seed.unwrap_or(0.0) as u64 });
    let task = TaskSpec { task_type, few_shot }.load(bytes)?;
    Ok(view(&task).to_string())
}

fn view(task: &Task) -> Value {
    let shared = task.shared_prompt();
    let mut examples: Vec<Value> = task
        .examples
        .iter()
        .map(|e| match &e.kind {
            ExampleKind::Classification { prompt, classes, answer_index } => {
                json!({ "row": e.row, "prompt": prompt, "classes": classes, "answer_index": answer_index })
            }
            ExampleKind::SequenceProb { prompt, completion } => {
                json!({ "row": e.row, "prompt": prompt, "completion": completion })
            }
            ExampleKind::Numeric { prompt, true_answer, anchor } => {
                json!({ "row": e.row, "prompt": prompt, "true_answer": true_answer, "anchor": anchor })
            }
            ExampleKind::Logodds { prompt, other_prompt, classes, answer_index } => json!({
                "row": e.row, "prompt": prompt, "other_prompt": other_prompt,
                "classes": classes, "answer_index": answer_index,
            }),
        })
        .collect();
    for (example, e) in examples.iter_mut().zip(&task.examples) {
        example["own_prompt"] = e.kind.prompt()[shared.len()..].into();
    }
    json!({
        "task_type": task.task_type.name(),
        "metric": task.task_type.metric(),
        "shared_prompt": shared,
        "examples": examples,
        "warnings": task.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
    })
}

/// The task editor's live check of a draft: `text` is the task file, or with `template` the
/// fillers table (CSV) the template is filled from. Returns JSON `{task, task_type, examples,
/// warnings, error}`: `task` the task file's text (the filled CSV for a template), `error`
/// null or `{row, column, message}` (row and column of the file, which for a template are the
/// fillers table's).
#[wasm_bindgen]
pub fn check_task_draft(template: Option<String>, text: &str, type_name: Option<String>) -> String {
    let error = |e: &TaskError| json!({ "row": e.row, "column": e.column, "message": e.to_string() });
    let file = match template.as_deref() {
        Some(template) => match fill_template(template, text.as_bytes()) {
            Ok(csv) => String::from_utf8(csv).expect("the filled CSV is text"),
            Err(e) => return json!({ "task": null, "error": error(&e) }).to_string(),
        },
        None => text.to_string(),
    };
    let task_type = type_name.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(TaskType::parse_name).transpose();
    let parsed = task_type.map_err(|e| TaskError::file(e.to_string())).and_then(|forced| parse_task_file(file.as_bytes(), forced));
    match parsed {
        Ok(task) => json!({
            "task": file, "task_type": task.task_type.name(), "examples": task.examples.len(),
            "warnings": task.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(), "error": null,
        }),
        Err(e) => json!({ "task": file, "error": error(&e) }),
    }
    .to_string()
}

/// The task as the prize's JSONL.
#[wasm_bindgen]
pub fn task_jsonl(bytes: &[u8], type_name: Option<String>) -> Result<String, JsError> {
    let forced = type_name.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(TaskType::parse_name).transpose()?;
    Ok(to_jsonl(&parse_task_file(bytes, forced)?))
}

/// How `tokenizer_json` (a `tokenizer.json`) splits the task's classes: JSON
/// `{examples: [[count, …]], warnings}`.
#[wasm_bindgen]
pub fn task_class_tokens(bytes: &[u8], type_name: Option<String>, tokenizer_json: &[u8]) -> Result<String, JsError> {
    let forced = type_name.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(TaskType::parse_name).transpose()?;
    let task = parse_task_file(bytes, forced)?;
    let tokenizer = Tokenizer::from_files(TokenizerFiles::Json(tokenizer_json))?;
    Ok(serde_json::to_string(&class_tokens(&task, &tokenizer)?).expect("counts serialise"))
}
