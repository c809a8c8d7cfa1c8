//! How a tokenizer splits each example's classes, for the task editor: a contestant sees the
//! token counts before any model runs, and is warned where the pipeline's rules bite (logodds
//! compares the classes' last tokens only).

use serde::Serialize;

use super::{ExampleKind, Task, TaskType};
use crate::tokenizer::{Tokenizer, TokenizerError};

#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassTokens {
    /// Per example, the number of tokens of each class, in order.
    pub examples: Vec<Vec<usize>>,
    pub warnings: Vec<String>,
}

/// The token count of every class of `task` under `tokenizer`, and what to look at.
pub fn class_tokens(task: &Task, tokenizer: &Tokenizer) -> Result<ClassTokens, TokenizerError> {
    let mut examples = Vec::new();
    let mut warnings = logodds_class_warnings(task, tokenizer)?;
    for example in &task.examples {
        let classes = example.kind.classes();
        let counts = classes.iter().map(|c| tokenizer.encode(c).map(|ids| ids.len())).collect::<Result<Vec<_>, _>>()?;
        if let ExampleKind::Classification { .. } = example.kind {
            if counts.contains(&0) {
                warnings.push(format!("row {}: a class has no tokens", example.row));
            }
        }
        examples.push(counts);
    }
    Ok(ClassTokens { examples, warnings })
}

/// A warning for each class of a logodds task that is more than one token under `tokenizer`:
/// the pipeline compares the classes' last tokens only, and so does the scorer. It names the
/// class, the rows that have it and the token scored. (A BOS the tokenizer puts first is not
/// part of a class, so it never counts.)
pub fn logodds_class_warnings(task: &Task, tokenizer: &Tokenizer) -> Result<Vec<String>, TokenizerError> {
    if !matches!(task.task_type, TaskType::Logodds | TaskType::AbsoluteLogodds) {
        return Ok(Vec::new());
    }
    // Each class once, in the order of its first row.
    let mut classes: Vec<(&str, Vec<usize>)> = Vec::new();
    for example in &task.examples {
        for class in example.kind.classes() {
            match classes.iter_mut().find(|(c, _)| *c == class.as_str()) {
                Some((_, rows)) => rows.push(example.row),
                None => classes.push((class, vec![example.row])),
            }
        }
    }
    let mut warnings = Vec::new();
    for (class, rows) in classes {
        let ids = tokenizer.encode(class)?;
        let [.., last] = ids[..] else { continue };
        if ids.len() == 1 {
            continue;
        }
        let shown: Vec<String> = rows.iter().take(3).map(usize::to_string).collect();
        let more = if rows.len() > 3 { format!(" and {} more", rows.len() - 3) } else { String::new() };
        let rows = format!("row{} {}{more}", if rows.len() == 1 { "" } else { "s" }, shown.join(", "));
        warnings.push(format!(
            "class {class:?} ({rows}) is {} tokens; logodds scores its last token, {:?} (id {last}), as the pipeline does",
            ids.len(),
            tokenizer.decode(&[last])?,
        ));
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::parse_task;
    use crate::tokenizer::TokenizerFiles;

    #[test]
    fn counts_classes_and_warns_of_multi_token_logodds_classes() {
        let json = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/models/tiny-hub/tokenizer.json")).unwrap();
        let tokenizer = Tokenizer::from_files(TokenizerFiles::Json(&json)).unwrap();
        let task = parse_task(b"prompt,classes,answer_index\nQ?,\"[' yes', ' antidisestablishmentarianism']\",0\n", None).unwrap();
        let counts = class_tokens(&task, &tokenizer).unwrap();
        assert_eq!(counts.examples[0][0], 1);
        assert!(counts.examples[0][1] > 1);
        assert!(counts.warnings.is_empty(), "classification sums a class's tokens: {:?}", counts.warnings);
        let logodds =
            parse_task(b"prompt,other_prompt,classes,answer_index\nA,B,\"[' yes', ' antidisestablishmentarianism']\",0\n", None).unwrap();
        let warned = class_tokens(&logodds, &tokenizer).unwrap().warnings;
        let ids = tokenizer.encode(" antidisestablishmentarianism").unwrap();
        let last = *ids.last().unwrap();
        let token = tokenizer.decode(&[last]).unwrap();
        assert_eq!(
            warned,
            [format!(
                "class \" antidisestablishmentarianism\" (row 2) is {} tokens; logodds scores its last token, {token:?} (id {last}), \
                 as the pipeline does",
                ids.len()
            )]
        );
    }
}
