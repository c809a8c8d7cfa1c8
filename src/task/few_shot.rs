//! Few-shot prompts built from a task's own examples, as in the prize paper's few-shot
//! setting: each example's prompt is preceded by `k` other examples of the same task, each
//! shown with its correct answer, separated by a blank line.
//!
//! A demonstration is the other example's prompt followed by its answer: the class at
//! `answer_index` (classification, logodds), the completion (sequence_prob) or, after a
//! space, the true answer (numeric). For logodds the
//! same demonstrations precede both prompts, so the difference between them stays what the
//! task measures. Which examples demonstrate is drawn per example from `seed` and the example's
//! position, never the example itself, so a prompt does not contain its own answer and the same
//! seed builds the same task.

use super::{Example, ExampleKind, Task, TaskError};
use crate::rng::Rng;

/// Between demonstrations, and between the last one and the example's own prompt.
pub const SEPARATOR: &str = "\n\n";

/// Settings of [`few_shot`].
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FewShot {
    /// Demonstrations per example.
    pub shots: usize,
    pub seed: u64,
}

/// `task` with `settings.shots` demonstrations before every prompt. The task needs more
/// examples than shots.
pub fn few_shot(task: &Task, settings: FewShot) -> Result<Task, TaskError> {
    let n = task.examples.len();
    if settings.shots >= n {
        return Err(TaskError::file(format!(
            "{} demonstrations per example need at least {} examples; the task has {n}",
            settings.shots,
            settings.shots + 1
        )));
    }
    let examples = (0..n)
        .map(|i| {
            let context: String =
                demonstrations(n, i, settings).into_iter().map(|j| demonstration(&task.examples[j].kind) + SEPARATOR).collect();
            let example = &task.examples[i];
            Example { row: example.row, kind: with_context(&example.kind, &context) }
        })
        .collect();
    Ok(Task { task_type: task.task_type, examples, warnings: task.warnings.clone() })
}

/// The positions of example `i`'s demonstrations: `shots` distinct examples other than `i`,
/// in random order (a partial Fisher–Yates shuffle of the other positions).
pub fn demonstrations(n: usize, i: usize, settings: FewShot) -> Vec<usize> {
    let mut rng = Rng::new(settings.seed ^ (i as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
    for k in 0..settings.shots {
        let pick = k + rng.below(others.len() - k);
        others.swap(k, pick);
    }
    others.truncate(settings.shots);
    others
}

fn demonstration(kind: &ExampleKind) -> String {
    match kind {
        ExampleKind::Classification { prompt, classes, answer_index } => format!("{prompt}{}", classes[*answer_index]),
        ExampleKind::SequenceProb { prompt, completion } => format!("{prompt}{completion}"),
        ExampleKind::Logodds { prompt, classes, answer_index, .. } => format!("{prompt}{}", classes[*answer_index]),
        ExampleKind::Numeric { prompt, true_answer, .. } => format!("{prompt} {true_answer}"),
    }
}

fn with_context(kind: &ExampleKind, context: &str) -> ExampleKind {
    let mut kind = kind.clone();
    match &mut kind {
        ExampleKind::Classification { prompt, .. } | ExampleKind::SequenceProb { prompt, .. } | ExampleKind::Numeric { prompt, .. } => {
            prompt.insert_str(0, context)
        }
        ExampleKind::Logodds { prompt, other_prompt, .. } => {
            prompt.insert_str(0, context);
            other_prompt.insert_str(0, context);
        }
    }
    kind
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::parse_task;

    fn task(rows: usize) -> Task {
        let mut csv = String::from("prompt,classes,answer_index\n");
        for i in 0..rows {
            csv.push_str(&format!("\"Q{i}: pick\",\"[' yes{i}', ' no{i}']\",{}\n", i % 2));
        }
        parse_task(csv.as_bytes(), None).unwrap()
    }

    #[test]
    fn prompts_get_other_examples_with_their_answers_never_their_own() {
        let original = task(12);
        for seed in 0..20 {
            let shot = few_shot(&original, FewShot { shots: 3, seed }).unwrap();
            for (i, (before, after)) in original.examples.iter().zip(&shot.examples).enumerate() {
                let p = after.kind.prompt();
                assert!(p.ends_with(&format!("\n\nQ{i}: pick")), "{p:?}");
                // Its own question appears once (at the end); its own answers never.
                assert_eq!(p.matches(&format!("Q{i}:")).count(), 1, "{p:?}");
                assert!(!p.contains(&format!(" yes{i}\n")) && !p.contains(&format!(" no{i}\n")), "{p:?}");
                assert_eq!(p.matches(SEPARATOR).count(), 3, "{p:?}");
                assert_eq!(before.kind.classes(), after.kind.classes());
                assert_eq!(before.row, after.row);
                // Each demonstration ends with that example's correct class.
                for demo in p.split(SEPARATOR).take(3) {
                    let j: usize = demo[1..demo.find(':').unwrap()].parse().unwrap();
                    let answer = if j.is_multiple_of(2) { format!(" yes{j}") } else { format!(" no{j}") };
                    assert!(demo.ends_with(&answer), "{demo:?}");
                }
            }
        }
    }

    #[test]
    fn the_same_seed_builds_the_same_task() {
        let original = task(8);
        let a = few_shot(&original, FewShot { shots: 2, seed: 5 }).unwrap();
        let b = few_shot(&original, FewShot { shots: 2, seed: 5 }).unwrap();
        let c = few_shot(&original, FewShot { shots: 2, seed: 6 }).unwrap();
        assert_eq!(a.examples, b.examples);
        assert_ne!(a.examples, c.examples);
    }

    #[test]
    fn demonstrations_are_distinct_and_exclude_the_example() {
        for i in 0..5 {
            let d = demonstrations(5, i, FewShot { shots: 4, seed: 1 });
            let mut sorted = d.clone();
            sorted.sort();
            let want: Vec<usize> = (0..5).filter(|&j| j != i).collect();
            assert_eq!(sorted, want);
        }
    }

    #[test]
    fn logodds_prompts_share_their_demonstrations() {
        let t = parse_task(
            b"prompt,other_prompt,classes,answer_index\nA,B,\"[' x', ' y']\",0\nC,D,\"[' x', ' y']\",1\nE,F,\"[' x', ' y']\",0\n",
            None,
        )
        .unwrap();
        let shot = few_shot(&t, FewShot { shots: 2, seed: 0 }).unwrap();
        for e in &shot.examples {
            let ExampleKind::Logodds { prompt, other_prompt, .. } = &e.kind else { panic!() };
            assert_eq!(prompt[..prompt.len() - 1], other_prompt[..other_prompt.len() - 1]);
        }
    }

    #[test]
    fn too_few_examples_is_an_error() {
        let e = few_shot(&task(3), FewShot { shots: 3, seed: 0 }).unwrap_err();
        assert_eq!(e.to_string(), "3 demonstrations per example need at least 4 examples; the task has 3");
    }
}
