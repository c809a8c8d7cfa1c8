//! A parsed task as the page shows it: type, examples and warnings, or the parser's
//! row/column error.

use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

use crate::task::{ExampleKind, FewShot, Task, TaskSpec, TaskType};

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
