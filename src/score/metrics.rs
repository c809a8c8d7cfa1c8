//! Per-example metrics from log-probabilities, with the prize pipeline's exact semantics
//! (`eval_pipeline/models.py`). Pure arithmetic: no tensors here.

use serde::{Deserialize, Serialize};

/// The scored numbers of one example, named as the pipeline's result columns.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Metrics {
    Classification {
        loss: f64,
        correct: bool,
        /// Index of the predicted class (the pipeline writes the class text).
        predicted: usize,
        total_logprob: f64,
        /// `lp(prompt, class_j)` for every class, in nats.
        class_logprobs: Vec<f64>,
    },
    SequenceProb {
        loss: f64,
    },
    Logodds {
        logodds_difference: f64,
        correct: bool,
        total_logprob: f64,
    },
    Numeric {
        /// Mean of the numbers read from the samples; `None` when no sample held one.
        estimate: Option<f64>,
        /// Each sample's text up to its first line break.
        samples: Vec<String>,
    },
}

impl Metrics {
    /// Whether every number is finite (a numeric example's estimate may be absent).
    pub fn is_finite(&self) -> bool {
        match self {
            Metrics::Classification { loss, total_logprob, class_logprobs, .. } => {
                [loss, total_logprob].into_iter().chain(class_logprobs).all(|x| x.is_finite())
            }
            Metrics::SequenceProb { loss } => loss.is_finite(),
            Metrics::Logodds { logodds_difference, total_logprob, .. } => logodds_difference.is_finite() && total_logprob.is_finite(),
            Metrics::Numeric { estimate, .. } => estimate.is_none_or(f64::is_finite),
        }
    }

    /// The value the task's main metric averages (`loss` or `logodds_difference`).
    pub fn value(&self) -> f64 {
        match self {
            Metrics::Classification { loss, .. } | Metrics::SequenceProb { loss } => *loss,
            Metrics::Logodds { logodds_difference, .. } => *logodds_difference,
            Metrics::Numeric { estimate, .. } => estimate.unwrap_or(f64::NAN),
        }
    }
}

/// The pipeline's numeric estimate: each sample cut at its first line break and read as a
/// number ([`read_number`]); the mean of those that read.
pub fn numeric(continuations: &[String]) -> Metrics {
    let samples: Vec<String> = continuations.iter().map(|c| c.split('\n').next().unwrap_or("").to_string()).collect();
    let numbers: Vec<f64> = samples.iter().filter_map(|s| read_number(s)).collect();
    let estimate = (!numbers.is_empty()).then(|| numbers.iter().sum::<f64>() / numbers.len() as f64);
    Metrics::Numeric { estimate, samples }
}

/// Strips surrounding spaces, removes `,` `(` `)` and trailing `.`, then reads a float as
/// Python's `float()` does (surrounding whitespace allowed, `inf` and `nan` too).
pub fn read_number(text: &str) -> Option<f64> {
    let cleaned: String = text.trim().chars().filter(|c| !matches!(c, ',' | '(' | ')')).collect();
    let cleaned = cleaned.trim_end_matches('.').trim();
    cleaned.parse::<f64>().ok()
}

/// `s_j = lp(prompt, classes[j])`; loss = -log_softmax(s)[answer]; first maximum wins.
pub fn classification(class_logprobs: Vec<f64>, answer_index: usize) -> Metrics {
    let total_logprob = logsumexp(&class_logprobs);
    let predicted = argmax(&class_logprobs);
    Metrics::Classification {
        loss: total_logprob - class_logprobs[answer_index],
        correct: predicted == answer_index,
        predicted,
        total_logprob,
        class_logprobs,
    }
}

/// `loss = -lp(prompt, completion)`.
pub fn sequence_prob(logprob: f64) -> Metrics {
    Metrics::SequenceProb { loss: -logprob }
}

/// Full-vocabulary next-token log-probs of the two classes after one prompt.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassPair(pub [f64; 2]);

impl ClassPair {
    /// `log_softmax([z0, z1])[0] - log_softmax([z0, z1])[1]`, which equals `z0 - z1`.
    fn log_odds(self) -> f64 {
        self.0[0] - self.0[1]
    }
}

/// The pipeline's logodds: the change in log-odds from `other` to `prompt`, signed towards
/// the answer; `absolute` takes its magnitude. Correctness is judged on `other`.
pub fn logodds(prompt: ClassPair, other: ClassPair, answer_index: usize, absolute: bool) -> Metrics {
    let mut difference = prompt.log_odds() - other.log_odds();
    if answer_index == 1 {
        difference = -difference;
    }
    if absolute {
        difference = difference.abs();
    }
    Metrics::Logodds {
        logodds_difference: difference,
        correct: argmax(&other.0) == answer_index,
        total_logprob: logsumexp(&[logsumexp(&prompt.0), logsumexp(&other.0)]),
    }
}

/// Index of the first maximum, as numpy's `argmax` picks it.
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

pub fn logsumexp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_reads_numbers_as_the_pipeline_does() {
        assert_eq!(read_number(" 1,234."), Some(1234.0));
        assert_eq!(read_number("(42)"), Some(42.0));
        assert_eq!(read_number(" -3.5 "), Some(-3.5));
        assert_eq!(read_number("7 ."), Some(7.0));
        assert_eq!(read_number("1e3"), Some(1000.0));
        assert_eq!(read_number("about 40"), None);
        assert_eq!(read_number(""), None);
        let samples: Vec<String> = [" 10\nmore", " 20.", " twelve", "\n30"].iter().map(|s| s.to_string()).collect();
        let Metrics::Numeric { estimate, samples } = numeric(&samples) else { panic!() };
        assert_eq!(estimate, Some(15.0));
        assert_eq!(samples, [" 10", " 20.", " twelve", ""]);
        let Metrics::Numeric { estimate, .. } = numeric(&["no".to_string()]) else { panic!() };
        assert_eq!(estimate, None);
    }

    #[test]
    fn classification_renormalises_over_classes() {
        let m = classification(vec![(0.2f64).ln(), (0.6f64).ln()], 0);
        let Metrics::Classification { loss, correct, predicted, total_logprob, .. } = m else { panic!() };
        assert!((loss - (4.0f64).ln()).abs() < 1e-12);
        assert!(!correct);
        assert_eq!(predicted, 1);
        assert!((total_logprob - (0.8f64).ln()).abs() < 1e-12);
    }

    #[test]
    fn first_maximum_wins() {
        assert_eq!(argmax(&[-1.0, -1.0, -2.0]), 0);
        assert_eq!(argmax(&[-3.0, -1.0, -1.0]), 1);
    }

    #[test]
    fn logodds_sign_and_absolute() {
        let p = ClassPair([-1.0, -3.0]);
        let o = ClassPair([-2.0, -1.0]);
        let Metrics::Logodds { logodds_difference, correct, .. } = logodds(p, o, 0, false) else { panic!() };
        assert_eq!(logodds_difference, 3.0);
        assert!(!correct);
        let Metrics::Logodds { logodds_difference, correct, .. } = logodds(p, o, 1, false) else { panic!() };
        assert_eq!(logodds_difference, -3.0);
        assert!(correct);
        let Metrics::Logodds { logodds_difference, .. } = logodds(p, o, 1, true) else { panic!() };
        assert_eq!(logodds_difference, 3.0);
    }
}
