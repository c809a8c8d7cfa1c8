//! A task written out as the prize's JSONL, one example per line with the pipeline's field
//! names, for the page's task editor to export what it checked.

use serde_json::json;

use super::{ExampleKind, Task};

/// The task's examples as JSONL (demonstrations a few-shot setting adds are the caller's to
/// leave out: this writes the prompts as the task holds them).
pub fn to_jsonl(task: &Task) -> String {
    let mut out = String::new();
    for example in &task.examples {
        let line = match &example.kind {
            ExampleKind::Classification { prompt, classes, answer_index } => {
                json!({ "prompt": prompt, "classes": classes, "answer_index": answer_index })
            }
            ExampleKind::SequenceProb { prompt, completion } => json!({ "prompt": prompt, "completion": completion }),
            ExampleKind::Logodds { prompt, other_prompt, classes, answer_index } => {
                json!({ "prompt": prompt, "other_prompt": other_prompt, "classes": classes, "answer_index": answer_index })
            }
            ExampleKind::Numeric { prompt, true_answer, anchor } => {
                json!({ "prompt": prompt, "true_answer": true_answer, "anchor": anchor })
            }
        };
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{parse_task, TaskType};

    #[test]
    fn every_type_reads_back_as_it_was() {
        let files: [(&[u8], Option<TaskType>); 4] = [
            (b"prompt,classes,answer_index\n\"Q: \"\"x\"\"?\nA:\",\"[' yes', ' no']\",1\n", None),
            (b"prompt,completion\nThe early bird,\" catches\"\n", None),
            (b"prompt,other_prompt,classes,answer_index\nA,B,\"[' x', ' y']\",0\n", Some(TaskType::AbsoluteLogodds)),
            (b"prompt,true_answer,anchor\nHow many?,12.5,3\n", None),
        ];
        for (file, forced) in files {
            let task = parse_task(file, forced).unwrap();
            let again = parse_task(to_jsonl(&task).as_bytes(), forced).unwrap();
            let kinds = |t: &Task| t.examples.iter().map(|e| e.kind.clone()).collect::<Vec<_>>();
            assert_eq!(kinds(&again), kinds(&task), "{}", String::from_utf8_lossy(file));
            assert_eq!(again.task_type, task.task_type);
        }
    }
}
