//! A parsed task as the page shows it: type, examples and warnings, or the parser's
//! row/column error.

use serde::Serialize;
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use super::boundary::to_page;
use crate::task::{
    class_tokens, fill_template, parse_task as parse_task_file, to_jsonl, ClassTokens, ExampleKind, FewShot, Task, TaskError, TaskSpec,
    TaskType,
};
use crate::tokenizer::{Tokenizer, TokenizerFiles};

/// A task as the page shows it.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct TaskView {
    task_type: &'static str,
    metric: &'static str,
    /// The text every prompt starts with.
    shared_prompt: String,
    examples: Vec<ExampleView>,
    warnings: Vec<String>,
}

/// One example; the fields its task type has are set.
#[derive(Default, Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct ExampleView {
    row: usize,
    prompt: String,
    /// The prompt after the shared part.
    own_prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    classes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    answer_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    completion: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    true_answer: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    anchor: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    other_prompt: Option<String>,
}

/// Parses a task file's bytes with the CLI's parser and, with `shots` > 0, builds its few-shot
/// prompts with `seed` as the worker will; throws the parser's error (which names the row and
/// column) as an `Error`.
#[wasm_bindgen]
pub fn parse_task(bytes: &[u8], type_name: Option<String>, shots: Option<u32>, seed: Option<f64>) -> Result<Ts<TaskView>, JsError> {
    let task_type = match type_name.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(name) => Some(TaskType::parse_name(name)?),
        None => None,
    };
    let few_shot = shots.map(|shots| FewShot { shots: shots as usize, seed: seed.unwrap_or(0.0) as u64 });
    let task = TaskSpec { task_type, few_shot }.load(bytes)?;
    to_page(&view(&task))
}

fn view(task: &Task) -> TaskView {
    let shared = task.shared_prompt();
    let examples = task
        .examples
        .iter()
        .map(|e| {
            let (prompt, own_prompt) = (e.kind.prompt().to_string(), e.kind.prompt()[shared.len()..].to_string());
            let example = ExampleView { row: e.row, prompt, own_prompt, ..ExampleView::default() };
            match &e.kind {
                ExampleKind::Classification { classes, answer_index, .. } => {
                    ExampleView { classes: Some(classes.clone()), answer_index: Some(*answer_index), ..example }
                }
                ExampleKind::SequenceProb { completion, .. } => ExampleView { completion: Some(completion.clone()), ..example },
                ExampleKind::Numeric { true_answer, anchor, .. } => {
                    ExampleView { true_answer: Some(*true_answer), anchor: Some(*anchor), ..example }
                }
                ExampleKind::Logodds { other_prompt, classes, answer_index, .. } => ExampleView {
                    other_prompt: Some(other_prompt.clone()),
                    classes: Some(classes.to_vec()),
                    answer_index: Some(*answer_index),
                    ..example
                },
            }
        })
        .collect();
    TaskView {
        task_type: task.task_type.name(),
        metric: task.task_type.metric(),
        shared_prompt: shared.to_string(),
        examples,
        warnings: task.warnings.iter().map(|w| w.to_string()).collect(),
    }
}

/// The task editor's live check of a draft: `task` is the task file's text (the filled CSV for
/// a template; null when the template cannot be filled), and either what it parses to or the
/// parser's error.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct DraftCheck {
    task: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    task_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    examples: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[tsify(optional)]
    warnings: Option<Vec<String>>,
    error: Option<DraftError>,
}

/// Where a draft fails: row and column of the file, which for a template are the fillers table's.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct DraftError {
    row: Option<usize>,
    column: Option<String>,
    message: String,
}

impl From<&TaskError> for DraftError {
    fn from(e: &TaskError) -> DraftError {
        DraftError { row: e.row, column: e.column.clone(), message: e.to_string() }
    }
}

/// The task editor's live check of a draft: `text` is the task file, or with `template` the
/// fillers table (CSV) the template is filled from.
#[wasm_bindgen]
pub fn check_task_draft(template: Option<String>, text: &str, type_name: Option<String>) -> Result<Ts<DraftCheck>, JsError> {
    let failed =
        |task: Option<String>, e: &TaskError| DraftCheck { task, task_type: None, examples: None, warnings: None, error: Some(e.into()) };
    let file = match template.as_deref() {
        Some(template) => match fill_template(template, text.as_bytes()) {
            Ok(csv) => String::from_utf8(csv).expect("the filled CSV is text"),
            Err(e) => return to_page(&failed(None, &e)),
        },
        None => text.to_string(),
    };
    let task_type = type_name.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(TaskType::parse_name).transpose();
    let parsed = task_type.map_err(|e| TaskError::file(e.to_string())).and_then(|forced| parse_task_file(file.as_bytes(), forced));
    to_page(&match parsed {
        Ok(task) => DraftCheck {
            task: Some(file),
            task_type: Some(task.task_type.name()),
            examples: Some(task.examples.len()),
            warnings: Some(task.warnings.iter().map(|w| w.to_string()).collect()),
            error: None,
        },
        Err(e) => failed(Some(file), &e),
    })
}

/// The task as the prize's JSONL.
#[wasm_bindgen]
pub fn task_jsonl(bytes: &[u8], type_name: Option<String>) -> Result<String, JsError> {
    let forced = type_name.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(TaskType::parse_name).transpose()?;
    Ok(to_jsonl(&parse_task_file(bytes, forced)?))
}

/// How `tokenizer_json` (a `tokenizer.json`) splits the task's classes.
#[wasm_bindgen]
pub fn task_class_tokens(bytes: &[u8], type_name: Option<String>, tokenizer_json: &[u8]) -> Result<Ts<ClassTokens>, JsError> {
    let forced = type_name.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(TaskType::parse_name).transpose()?;
    let task = parse_task_file(bytes, forced)?;
    let tokenizer = Tokenizer::from_files(TokenizerFiles::Json(tokenizer_json))?;
    to_page(&class_tokens(&task, &tokenizer)?)
}
