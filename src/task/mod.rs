//! The Inverse Scaling Prize task formats: task types, examples and parse errors.
//!
//! Pure Rust: nothing here knows about models, tensors or browsers (a tokenizer counts the
//! classes' tokens for the task editor).

mod class_tokens;
pub mod few_shot;
mod jsonl;
mod parquet;
mod parse;
mod pylist;
mod spec;
mod template;

use std::fmt;

pub use class_tokens::{class_tokens, logodds_class_warnings, ClassTokens};
pub use few_shot::{few_shot, FewShot};
pub use jsonl::to_jsonl;
pub use parse::{parse_task, MAX_TASK_BYTES};
pub use pylist::parse_class_list;
pub use spec::TaskSpec;
pub use template::fill_template;

/// A task type name that is none of the pipeline's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown task type `{0}` (expected one of: classification, sequence_prob, logodds, absolute_logodds, numeric)")]
pub struct UnknownTaskType(pub String);

/// How a task is scored, named as in the prize pipeline (`--type` / `task_type`).
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    /// Pick one of several continuations; loss = -log P(answer) renormalised over the classes.
    Classification,
    /// Log-probability of one completion.
    SequenceProb,
    /// Signed change in the log-odds of two single-token classes between two prompts.
    Logodds,
    /// Absolute change in those log-odds.
    AbsoluteLogodds,
    /// A number read from sampled continuations (10 samples at temperature 0.5, averaged).
    Numeric,
}

impl TaskType {
    pub const ALL: [TaskType; 5] =
        [TaskType::Classification, TaskType::SequenceProb, TaskType::Logodds, TaskType::AbsoluteLogodds, TaskType::Numeric];

    /// The pipeline's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            TaskType::Classification => "classification",
            TaskType::SequenceProb => "sequence_prob",
            TaskType::Logodds => "logodds",
            TaskType::AbsoluteLogodds => "absolute_logodds",
            TaskType::Numeric => "numeric",
        }
    }

    /// Parses a pipeline task type name, including the pipeline's classification aliases.
    pub fn from_name(name: &str) -> Option<TaskType> {
        match name.trim() {
            "classification" | "classification_loss" | "classification_acc" => Some(TaskType::Classification),
            "sequence_prob" => Some(TaskType::SequenceProb),
            "logodds" => Some(TaskType::Logodds),
            "absolute_logodds" => Some(TaskType::AbsoluteLogodds),
            "numeric" => Some(TaskType::Numeric),
            _ => None,
        }
    }

    /// [`TaskType::from_name`] with an error that lists the known names.
    pub fn parse_name(name: &str) -> Result<TaskType, UnknownTaskType> {
        TaskType::from_name(name).ok_or_else(|| UnknownTaskType(name.trim().to_string()))
    }

    /// The result column the main metric averages: `loss` or `logodds_difference`, lower
    /// better for both (a positive logodds difference means the other prompt pushed the model
    /// away from the answer); `estimate` for numeric tasks, which has no better direction.
    pub fn metric(self) -> &'static str {
        match self {
            TaskType::Numeric => "estimate",
            TaskType::Logodds | TaskType::AbsoluteLogodds => "logodds_difference",
            TaskType::Classification | TaskType::SequenceProb => "loss",
        }
    }

    /// The pipeline's per-example result columns, in the pipeline's order.
    pub fn result_columns(self) -> &'static [&'static str] {
        match self {
            TaskType::Classification => &["index", "loss", "correct", "predicted", "total_logprob"],
            TaskType::SequenceProb => &["index", "loss"],
            TaskType::Numeric => &["index", "estimate"],
            TaskType::Logodds | TaskType::AbsoluteLogodds => &["index", "logodds_difference", "correct", "total_logprob"],
        }
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One example of a task, with the spreadsheet row (or JSONL line) it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// 1-based row as a spreadsheet shows it (the header is row 1), or the JSONL line number.
    pub row: usize,
    pub kind: ExampleKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExampleKind {
    Classification {
        prompt: String,
        classes: Vec<String>,
        answer_index: usize,
    },
    SequenceProb {
        prompt: String,
        completion: String,
    },
    /// Used by both `logodds` and `absolute_logodds`.
    Logodds {
        prompt: String,
        other_prompt: String,
        classes: [String; 2],
        answer_index: usize,
    },
    Numeric {
        prompt: String,
        true_answer: f64,
        anchor: f64,
    },
}

impl ExampleKind {
    /// The answer choices of the example (empty for `sequence_prob`).
    pub fn classes(&self) -> &[String] {
        match self {
            ExampleKind::Classification { classes, .. } => classes,
            ExampleKind::Logodds { classes, .. } => classes,
            ExampleKind::SequenceProb { .. } | ExampleKind::Numeric { .. } => &[],
        }
    }

    /// The prompt (for logodds, the first of its two).
    pub fn prompt(&self) -> &str {
        match self {
            ExampleKind::Classification { prompt, .. }
            | ExampleKind::SequenceProb { prompt, .. }
            | ExampleKind::Numeric { prompt, .. }
            | ExampleKind::Logodds { prompt, .. } => prompt,
        }
    }
}

/// A parsed task: its type, examples, and non-fatal remarks about the input.
#[derive(Clone, Debug)]
pub struct Task {
    pub task_type: TaskType,
    pub examples: Vec<Example>,
    pub warnings: Vec<TaskWarning>,
}

impl Task {
    /// The text every prompt starts with (an instruction, demonstrations a template repeats),
    /// up to and including its last line break, so that what is each example's own starts a
    /// line; empty with fewer than two examples.
    pub fn shared_prompt(&self) -> &str {
        let prompts: Vec<&str> = self.examples.iter().map(|e| e.kind.prompt()).collect();
        shared_prompt(&prompts)
    }
}

fn shared_prompt<'a>(prompts: &[&'a str]) -> &'a str {
    let [first, rest @ ..] = prompts else { return "" };
    if rest.is_empty() {
        return "";
    }
    let common = rest.iter().fold(first.len(), |n, p| first.bytes().zip(p.bytes()).take(n).take_while(|(a, b)| a == b).count());
    // The common bytes may end inside a character; a line break is one byte, so cutting
    // after one keeps the text valid UTF-8.
    first.as_bytes()[..common].iter().rposition(|&b| b == b'\n').map_or("", |end| &first[..=end])
}

/// A remark about the input that does not stop scoring (e.g. a class without a leading space).
#[derive(Clone, Debug, PartialEq)]
pub struct TaskWarning {
    pub row: usize,
    pub column: &'static str,
    pub message: String,
}

impl fmt::Display for TaskWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "row {}, column `{}`: {}", self.row, self.column, self.message)
    }
}

/// Why a task file was rejected, with where in the file it happened.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}{message}", location(*.row, .column.as_deref()))]
pub struct TaskError {
    /// 1-based spreadsheet row (header = row 1) or JSONL line; `None` for whole-file problems.
    pub row: Option<usize>,
    /// The column (or JSON field) at fault, when there is one.
    pub column: Option<String>,
    pub message: String,
}

fn location(row: Option<usize>, column: Option<&str>) -> String {
    match (row, column) {
        (Some(r), Some(c)) => format!("row {r}, column `{c}`: "),
        (Some(r), None) => format!("row {r}: "),
        (None, Some(c)) => format!("column `{c}`: "),
        (None, None) => String::new(),
    }
}

impl TaskError {
    pub(crate) fn file(message: impl Into<String>) -> Self {
        TaskError { row: None, column: None, message: message.into() }
    }
    pub(crate) fn at(row: usize, column: &str, message: impl Into<String>) -> Self {
        TaskError { row: Some(row), column: Some(column.to_string()), message: message.into() }
    }
    pub(crate) fn at_row(row: usize, message: impl Into<String>) -> Self {
        TaskError { row: Some(row), column: None, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_text_ends_at_a_line_break() {
        let prompts = ["Answer the question.\nQ: 2+2?\nA:", "Answer the question.\nQ: 3+3?\nA:", "Answer the question.\nQ: é?"];
        assert_eq!(shared_prompt(&prompts), "Answer the question.\n");
        assert_eq!(shared_prompt(&["Q: 1\nA:", "Q: 2\nA:"]), "");
        assert_eq!(shared_prompt(&["same\n"]), "", "one prompt shares nothing");
        // Multi-byte text diverging inside a character still cuts at a line break.
        assert_eq!(shared_prompt(&["x\né", "x\nè"]), "x\n");
    }
}
