//! How a tokenizer splits each example's classes, for the task editor: a contestant sees the
//! token counts before any model runs, and is warned where the pipeline's rules bite (logodds
//! compares the classes' last tokens only).

use serde::Serialize;

use super::{ExampleKind, Task, TaskType};
use crate::tokenizer::{Tokenizer, TokenizerError};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassTokens {
    /// Per example, the number of tokens of each class, in order.
    pub examples: Vec<Vec<usize>>,
    pub warnings: Vec<String>,
}

/// The token count of every class of `task` under `tokenizer`, and what to look at.
pub fn class_tokens(task: &Task, tokenizer: &Tokenizer) -> Result<ClassTokens, TokenizerError> {
    let mut examples = Vec::new();
    let mut warnings = Vec::new();
    let logodds = matches!(task.task_type, TaskType::Logodds | TaskType::AbsoluteLogodds);
    for example in &task.examples {
        let classes = example.kind.classes();
        let counts = classes.iter().map(|c| tokenizer.encode(c).map(|ids| ids.len())).collect::<Result<Vec<_>, _>>()?;
        for (class, &count) in classes.iter().zip(&counts) {
            if logodds && count != 1 {
                warnings.push(format!(
                    "row {}: class {class:?} is {count} tokens; logodds compares the classes' last tokens only (as the pipeline does)",
                    example.row
                ));
            }
        }
        if let ExampleKind::Classification { .. } = example.kind {
            if counts.contains(&0) {
                warnings.push(format!("row {}: a class has no tokens", example.row));
            }
        }
        examples.push(counts);
    }
    Ok(ClassTokens { examples, warnings })
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
        assert_eq!(warned.len(), 1);
        assert!(warned[0].starts_with("row 2: class \" antidisestablishmentarianism\" is "), "{warned:?}");
    }
}
