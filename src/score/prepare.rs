//! Examples → the token sequences the model must read, following the pipeline exactly:
//! `ids = tok(prompt + continuation)` (one string, tokenized together) and the last
//! `L = len(tok(continuation))` positions are scored. A tokenizer with a BOS token (OPT's)
//! puts it before every sequence, and `L` leaves it out, as the pipeline's
//! `correction_for_start_token` does.

use crate::task::{Example, ExampleKind, TaskError};
use crate::tokenizer::Tokenizer;

/// The pipeline cuts `prompt + class` to its first 1023 tokens.
pub const PIPELINE_MAX_TOKENS: usize = 1023;

/// What to do with inputs longer than the model's context.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Truncation {
    /// Drop tokens from the left so the scored tokens stay, and flag the example.
    #[default]
    KeepScored,
    /// The prize pipeline's behaviour: keep the first 1023 tokens, then score the last `L`
    /// of what is left (which may no longer be the continuation).
    Pipeline,
}

impl Truncation {
    pub fn name(self) -> &'static str {
        match self {
            Truncation::KeepScored => "keep-scored",
            Truncation::Pipeline => "pipeline",
        }
    }
}

/// A token sequence whose last `scored` tokens are scored.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    pub ids: Vec<u32>,
    pub scored: usize,
}

/// The model inputs for one example.
#[derive(Clone, Debug, PartialEq)]
pub enum Prepared {
    /// One sequence per class.
    Classification {
        sequences: Vec<Sequence>,
    },
    SequenceProb {
        sequence: Sequence,
    },
    /// Both prompts, read up to their last token, and the two class tokens.
    Logodds {
        prompt: Vec<u32>,
        other: Vec<u32>,
        classes: [u32; 2],
    },
    /// The prompt to continue by sampling, with room left for the new tokens.
    Numeric {
        prompt: Vec<u32>,
    },
}

/// A prepared example and whether its input had to be shortened.
#[derive(Clone, Debug, PartialEq)]
pub struct PreparedExample {
    pub input: Prepared,
    pub truncated: bool,
}

/// Tokenizes one example for a model with `n_positions` positions.
pub fn prepare(example: &Example, tokenizer: &Tokenizer, n_positions: usize, truncation: Truncation) -> Result<PreparedExample, TaskError> {
    let row = example.row;
    let tok = |text: &str, column: &str| tokenizer.encode(text).map_err(|e| TaskError::at(row, column, e.to_string()));
    let bos = tokenizer.bos();
    // What the model reads: the BOS, if any, then the text's tokens.
    let read = |text: &str, column: &str| -> Result<Vec<u32>, TaskError> { Ok(bos.into_iter().chain(tok(text, column)?).collect()) };
    let fit = |ids: Vec<u32>, n_positions: usize, truncation: Truncation| fit(ids, usize::from(bos.is_some()), n_positions, truncation);
    let mut truncated = false;
    let mut sequence = |context: &str, continuation: &str, column: &str| -> Result<Sequence, TaskError> {
        let ids = read(&format!("{context}{continuation}"), column)?;
        let scored = tok(continuation, column)?.len();
        let (ids, cut) = fit(ids, n_positions, truncation);
        truncated |= cut;
        if scored + 1 > ids.len() {
            return Err(TaskError::at(
                row,
                column,
                format!(
                    "{continuation:?} is {scored} tokens, which leaves no room for the prompt in the \
                     model's {} usable tokens",
                    ids.len()
                ),
            ));
        }
        Ok(Sequence { ids, scored })
    };
    let input = match &example.kind {
        ExampleKind::Classification { prompt, classes, .. } => {
            Prepared::Classification { sequences: classes.iter().map(|c| sequence(prompt, c, "classes")).collect::<Result<_, _>>()? }
        }
        ExampleKind::SequenceProb { prompt, completion } => {
            Prepared::SequenceProb { sequence: sequence(prompt, completion, "completion")? }
        }
        ExampleKind::Logodds { prompt, other_prompt, classes, .. } => {
            // The pipeline's class token is the last of the class's tokens.
            let class_token = |i: usize| -> Result<u32, TaskError> {
                tok(&classes[i], "classes")?
                    .last()
                    .copied()
                    .ok_or_else(|| TaskError::at(row, "classes", format!("class {} is empty: it has no token to score", i)))
            };
            let classes = [class_token(0)?, class_token(1)?];
            let (prompt, cut_a) = fit(read(prompt, "prompt")?, n_positions, truncation);
            let (other, cut_b) = fit(read(other_prompt, "other_prompt")?, n_positions, truncation);
            truncated |= cut_a || cut_b;
            Prepared::Logodds { prompt, other, classes }
        }
        // Sampling needs room after the prompt in either mode: drop from the left.
        ExampleKind::Numeric { prompt, .. } => {
            let room = n_positions.saturating_sub(super::sample::MAX_NEW_TOKENS).max(1);
            let (prompt, cut) = fit(read(prompt, "prompt")?, room, Truncation::KeepScored);
            truncated |= cut;
            Prepared::Numeric { prompt }
        }
    };
    Ok(PreparedExample { input, truncated })
}

/// Shortens `ids` to what the model (or the pipeline) reads; says whether it cut anything.
/// Keep-scored drops tokens from the left but keeps the first `start` (a BOS).
fn fit(mut ids: Vec<u32>, start: usize, n_positions: usize, truncation: Truncation) -> (Vec<u32>, bool) {
    match truncation {
        Truncation::KeepScored if ids.len() > n_positions => {
            ids.drain(start..start + ids.len() - n_positions);
            (ids, true)
        }
        Truncation::Pipeline if ids.len() > PIPELINE_MAX_TOKENS.min(n_positions) => {
            ids.truncate(PIPELINE_MAX_TOKENS.min(n_positions));
            (ids, true)
        }
        _ => (ids, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_scored_drops_from_the_left() {
        let (ids, cut) = fit((0..1030).collect(), 0, 1024, Truncation::KeepScored);
        assert!(cut);
        assert_eq!(ids.len(), 1024);
        assert_eq!(ids[0], 6);
        assert_eq!(*ids.last().unwrap(), 1029);
        let (ids, _) = fit((0..1030).collect(), 1, 1024, Truncation::KeepScored);
        assert_eq!((ids.len(), ids[0], ids[1]), (1024, 0, 7), "the BOS stays");
    }

    #[test]
    fn pipeline_keeps_the_first_1023() {
        let (ids, cut) = fit((0..1030).collect(), 0, 1024, Truncation::Pipeline);
        assert!(cut);
        assert_eq!(ids, (0..1023).collect::<Vec<_>>());
        let (ids, cut) = fit((0..1023).collect(), 0, 1024, Truncation::Pipeline);
        assert!(!cut);
        assert_eq!(ids.len(), 1023);
    }
}
