//! CSV / JSONL / JSON (and Parquet, see `parquet.rs`) task files → examples, with errors that
//! name the row and column.
//!
//! Rows are numbered as a spreadsheet shows them: the header is row 1, the first example
//! row 2 (a quoted cell spanning several lines is still one row). JSONL rows are line numbers;
//! items of a JSON array are numbered from 1.

use std::collections::BTreeMap;

use super::{parse_class_list, Example, ExampleKind, Task, TaskError, TaskType, TaskWarning};

/// Larger task files are refused rather than parsed (the prize's biggest task is ~10 MB).
pub const MAX_TASK_BYTES: usize = 256 * 1024 * 1024;

/// Canonical column names and the older names the prize's files also use.
const ALIASES: &[(&str, &str)] = &[
    ("prompt", "prompt"),
    ("filled_template", "prompt"),
    ("other_prompt", "other_prompt"),
    ("biased_prompt", "other_prompt"),
    ("classes", "classes"),
    ("answer_index", "answer_index"),
    ("answer_ix", "answer_index"),
    ("completion", "completion"),
    ("true_answer", "true_answer"),
    ("anchor", "anchor"),
];

/// Parses a task file. `forced` overrides the type inferred from the columns.
pub fn parse_task(bytes: &[u8], forced: Option<TaskType>) -> Result<Task, TaskError> {
    if bytes.len() > MAX_TASK_BYTES {
        return Err(TaskError::file(format!(
            "the file is {} MB; task files are limited to {} MB",
            bytes.len() / 1_000_000,
            MAX_TASK_BYTES / 1_000_000
        )));
    }
    if bytes.starts_with(super::parquet::MAGIC) {
        return build_task(json_rows(super::parquet::parquet_rows(bytes)?)?, forced);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let rows = match first {
        None => return Err(TaskError::file("the file is empty")),
        Some(b'{') => read_jsonl(bytes)?,
        Some(b'[') => read_json_array(bytes)?,
        Some(_) => read_csv(bytes)?,
    };
    build_task(rows, forced)
}

/// One input row: its number and its cells, keyed by canonical column name.
struct Row {
    number: usize,
    cells: BTreeMap<&'static str, Cell>,
}

enum Cell {
    Text(String),
    /// A JSON value that is not a string (a `classes` array, a numeric `answer_index`).
    Json(serde_json::Value),
}

struct Rows {
    /// Canonical names of the columns present (from the header or the first JSON object).
    columns: Vec<&'static str>,
    /// The names as written in the file, for messages.
    written: Vec<String>,
    rows: Vec<Row>,
}

fn canonical(name: &str) -> Option<&'static str> {
    let name = name.trim();
    ALIASES.iter().find(|(alias, _)| *alias == name).map(|&(_, canon)| canon)
}

fn read_csv(bytes: &[u8]) -> Result<Rows, TaskError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let header = reader.byte_headers().map_err(|e| TaskError::at_row(1, format!("cannot read the header: {e}")))?.clone();
    let mut written = Vec::new();
    let mut slots: Vec<Option<&'static str>> = Vec::new();
    let mut columns = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let name = std::str::from_utf8(name).map_err(|_| TaskError::at_row(1, format!("header cell {} is not valid UTF-8", i + 1)))?;
        written.push(name.to_string());
        // The first column of a given meaning wins (e.g. `answer_index` over `answer_ix`).
        let canon = canonical(name).filter(|c| !columns.contains(c));
        if let Some(c) = canon {
            columns.push(c);
        }
        slots.push(canon);
    }
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    let mut number = 1;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(TaskError::at_row(number + 1, format!("malformed CSV: {e}"))),
        }
        number += 1;
        if record.len() == 1 && record[0].iter().all(|b| b.is_ascii_whitespace()) && header.len() > 1 {
            continue; // a blank line
        }
        if record.len() != header.len() {
            return Err(TaskError::at_row(number, format!("has {} cells but the header has {} columns", record.len(), header.len())));
        }
        let mut cells = BTreeMap::new();
        for (slot, (raw, name)) in slots.iter().zip(record.iter().zip(&written)) {
            let Some(canon) = slot else { continue };
            let text = std::str::from_utf8(raw)
                .map_err(|e| TaskError::at(number, name, format!("is not valid UTF-8 (bad byte at offset {})", e.valid_up_to())))?;
            cells.insert(*canon, Cell::Text(text.to_string()));
        }
        rows.push(Row { number, cells });
    }
    Ok(Rows { columns, written, rows })
}

fn read_jsonl(bytes: &[u8]) -> Result<Rows, TaskError> {
    let mut objects = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = i + 1;
        let line = std::str::from_utf8(line)
            .map_err(|e| TaskError::at_row(number, format!("is not valid UTF-8 (bad byte at offset {})", e.valid_up_to())))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| TaskError::at_row(number, format!("is not valid JSON: {e}")))?;
        objects.push((number, value));
    }
    json_rows(objects)
}

fn read_json_array(bytes: &[u8]) -> Result<Rows, TaskError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| TaskError::file(format!("the file is not valid UTF-8 (bad byte at offset {})", e.valid_up_to())))?;
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| TaskError::file(format!("the file is not valid JSON: {e}")))?;
    let serde_json::Value::Array(items) = value else {
        return Err(TaskError::file("expected a JSON array of examples"));
    };
    json_rows(items.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect())
}

fn json_rows(objects: Vec<(usize, serde_json::Value)>) -> Result<Rows, TaskError> {
    let mut columns: Vec<&'static str> = Vec::new();
    let mut written = Vec::new();
    let mut rows = Vec::new();
    for (number, value) in objects {
        let serde_json::Value::Object(map) = value else {
            return Err(TaskError::at_row(number, "expected a JSON object with the task's fields"));
        };
        if rows.is_empty() {
            for key in map.keys() {
                written.push(key.clone());
                if let Some(c) = canonical(key).filter(|c| !columns.contains(c)) {
                    columns.push(c);
                }
            }
        }
        let mut cells = BTreeMap::new();
        for (key, value) in map {
            let Some(canon) = canonical(&key) else { continue };
            if cells.contains_key(canon) {
                continue;
            }
            let cell = match value {
                serde_json::Value::String(s) => Cell::Text(s),
                other => Cell::Json(other),
            };
            cells.insert(canon, cell);
        }
        rows.push(Row { number, cells });
    }
    Ok(Rows { columns, written, rows })
}

fn infer_type(columns: &[&str], written: &[String]) -> Result<TaskType, TaskError> {
    let has = |c: &str| columns.contains(&c);
    if has("other_prompt") {
        Ok(TaskType::Logodds)
    } else if has("classes") {
        Ok(TaskType::Classification)
    } else if has("completion") {
        Ok(TaskType::SequenceProb)
    } else if has("true_answer") {
        Ok(TaskType::Numeric)
    } else {
        Err(TaskError::file(format!(
            "cannot tell the task type from the columns [{}]: expected `prompt` with `classes` and \
             `answer_index` (classification), `completion` (sequence_prob), `other_prompt`, \
             `classes` and `answer_index` (logodds), or `true_answer` and `anchor` (numeric)",
            written.join(", ")
        )))
    }
}

fn required_columns(task_type: TaskType) -> &'static [&'static str] {
    match task_type {
        TaskType::Classification => &["prompt", "classes", "answer_index"],
        TaskType::SequenceProb => &["prompt", "completion"],
        TaskType::Numeric => &["prompt", "true_answer", "anchor"],
        TaskType::Logodds | TaskType::AbsoluteLogodds => &["prompt", "other_prompt", "classes", "answer_index"],
    }
}

fn build_task(input: Rows, forced: Option<TaskType>) -> Result<Task, TaskError> {
    let task_type = match forced {
        Some(t) => t,
        None => infer_type(&input.columns, &input.written)?,
    };
    for column in required_columns(task_type) {
        if !input.columns.contains(column) {
            return Err(TaskError::file(format!(
                "missing column `{column}`, which {task_type} needs (found: [{}])",
                input.written.join(", ")
            )));
        }
    }
    if input.rows.is_empty() {
        return Err(TaskError::file("the file has no examples"));
    }
    let mut warnings = Vec::new();
    let examples = input.rows.into_iter().map(|row| build_example(row, task_type, &mut warnings)).collect::<Result<Vec<_>, _>>()?;
    Ok(Task { task_type, examples, warnings })
}

fn build_example(row: Row, task_type: TaskType, warnings: &mut Vec<TaskWarning>) -> Result<Example, TaskError> {
    let n = row.number;
    let kind = match task_type {
        TaskType::Classification => {
            let prompt = text(&row, "prompt")?;
            let classes = classes(&row)?;
            if classes.len() < 2 {
                return Err(TaskError::at(n, "classes", format!("needs at least two classes, found {}", classes.len())));
            }
            let answer_index = answer_index(&row, classes.len())?;
            warn_about_spaces(n, &prompt, &classes, warnings);
            ExampleKind::Classification { prompt, classes, answer_index }
        }
        TaskType::SequenceProb => {
            let prompt = text(&row, "prompt")?;
            let completion = text(&row, "completion")?;
            ExampleKind::SequenceProb { prompt, completion }
        }
        TaskType::Numeric => ExampleKind::Numeric {
            prompt: text(&row, "prompt")?,
            true_answer: number(&row, "true_answer")?,
            anchor: number(&row, "anchor")?,
        },
        TaskType::Logodds | TaskType::AbsoluteLogodds => {
            let prompt = text(&row, "prompt")?;
            let other_prompt = text(&row, "other_prompt")?;
            let classes = classes(&row)?;
            let Ok([c0, c1]) = <[String; 2]>::try_from(classes) else {
                return Err(TaskError::at(n, "classes", format!("{task_type} needs exactly two classes")));
            };
            let answer_index = answer_index(&row, 2)?;
            warn_about_spaces(n, &prompt, std::slice::from_ref(&c0), warnings);
            warn_about_spaces(n, &prompt, std::slice::from_ref(&c1), warnings);
            ExampleKind::Logodds { prompt, other_prompt, classes: [c0, c1], answer_index }
        }
    };
    Ok(Example { row: n, kind })
}

/// A required, non-empty text cell.
fn text(row: &Row, column: &'static str) -> Result<String, TaskError> {
    match row.cells.get(column) {
        None => Err(TaskError::at(row.number, column, "is missing")),
        Some(Cell::Text(s)) if s.is_empty() => Err(TaskError::at(row.number, column, "is empty")),
        Some(Cell::Text(s)) => Ok(s.clone()),
        Some(Cell::Json(v)) => Err(TaskError::at(row.number, column, format!("expected text, found {}", json_kind(v)))),
    }
}

/// A required number cell: text that reads as a finite number, or a JSON number.
fn number(row: &Row, column: &'static str) -> Result<f64, TaskError> {
    let n = row.number;
    let (value, shown) = match row.cells.get(column) {
        None => return Err(TaskError::at(n, column, "is missing")),
        Some(Cell::Text(s)) => (s.trim().parse::<f64>().ok(), s.clone()),
        Some(Cell::Json(serde_json::Value::Number(x))) => (x.as_f64(), x.to_string()),
        Some(Cell::Json(v)) => return Err(TaskError::at(n, column, format!("expected a number, found {}", json_kind(v)))),
    };
    value.filter(|v| v.is_finite()).ok_or_else(|| TaskError::at(n, column, format!("expected a number, found `{shown}`")))
}

fn classes(row: &Row) -> Result<Vec<String>, TaskError> {
    let n = row.number;
    let classes = match row.cells.get("classes") {
        None => return Err(TaskError::at(n, "classes", "is missing")),
        Some(Cell::Text(s)) => parse_class_list(s).map_err(|m| TaskError::at(n, "classes", m))?,
        Some(Cell::Json(serde_json::Value::Array(items))) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                serde_json::Value::String(s) => Ok(s.clone()),
                other => Err(TaskError::at(n, "classes", format!("class {} is {}, expected a string", i + 1, json_kind(other)))),
            })
            .collect::<Result<_, _>>()?,
        Some(Cell::Json(v)) => return Err(TaskError::at(n, "classes", format!("expected a list of strings, found {}", json_kind(v)))),
    };
    if let Some(i) = classes.iter().position(|c| c.is_empty()) {
        return Err(TaskError::at(n, "classes", format!("class {} is empty", i + 1)));
    }
    Ok(classes)
}

fn answer_index(row: &Row, class_count: usize) -> Result<usize, TaskError> {
    let n = row.number;
    let value = match row.cells.get("answer_index") {
        None => return Err(TaskError::at(n, "answer_index", "is missing")),
        Some(Cell::Text(s)) => parse_index(s.trim()),
        Some(Cell::Json(serde_json::Value::Number(x))) => x.as_f64().filter(|f| f.fract() == 0.0),
        Some(Cell::Json(v)) => return Err(TaskError::at(n, "answer_index", format!("expected a whole number, found {}", json_kind(v)))),
    };
    let shown = match row.cells.get("answer_index") {
        Some(Cell::Text(s)) => s.clone(),
        Some(Cell::Json(v)) => v.to_string(),
        None => String::new(),
    };
    match value {
        Some(v) if v >= 0.0 && (v as usize) < class_count => Ok(v as usize),
        Some(_) => Err(TaskError::at(
            n,
            "answer_index",
            format!("is {shown}, but there are {class_count} classes (valid: 0 to {})", class_count - 1),
        )),
        None => Err(TaskError::at(n, "answer_index", format!("expected a whole number, found `{shown}`"))),
    }
}

/// Integers, and integral floats as pandas sometimes writes them (`1.0`).
fn parse_index(s: &str) -> Option<f64> {
    if let Ok(i) = s.parse::<i64>() {
        return Some(i as f64);
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite() && f.fract() == 0.0)
}

fn warn_about_spaces(row: usize, prompt: &str, classes: &[String], warnings: &mut Vec<TaskWarning>) {
    if prompt.ends_with(char::is_whitespace) {
        return;
    }
    for class in classes.iter().filter(|c| !c.starts_with(char::is_whitespace)) {
        warnings.push(TaskWarning {
            row,
            column: "classes",
            message: format!(
                "class {class:?} has no leading space, so it is glued to the prompt's last word \
                 (GPT-2 expects \" {}\")",
                class.trim_start()
            ),
        });
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}
