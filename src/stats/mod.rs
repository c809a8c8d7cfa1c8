//! Per-model aggregates of per-example metrics, as the prize's `plot_loss.py` computes them:
//! means, standard errors (population std / √n), chance baselines and coverage; and the trend
//! across model sizes ([`trend`]).

pub mod trend;

use serde::{Deserialize, Serialize};

use crate::score::Metrics;
use crate::task::TaskType;

/// A mean with its standard error.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub mean: f64,
    /// Population standard deviation / √n (numpy's default `std`, as the pipeline uses).
    pub sem: f64,
}

impl Estimate {
    pub fn of(values: &[f64]) -> Estimate {
        let n = values.len() as f64;
        if values.is_empty() {
            return Estimate { mean: f64::NAN, sem: f64::NAN };
        }
        let mean = values.iter().sum::<f64>() / n;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        Estimate { mean, sem: var.sqrt() / n.sqrt() }
    }
}

/// Everything the summary reports about one model on one task.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    /// `loss` or `logodds_difference`, the column the main metric averages.
    pub metric: String,
    /// The main metric: mean loss (lower is better), mean logodds difference, or mean
    /// numeric estimate.
    pub value: Estimate,
    /// Fraction correct, for task types that define `correct`.
    pub accuracy: Option<Estimate>,
    /// Mean loss of a uniform guess over the classes (mean ln k); classification only.
    pub chance_loss: Option<f64>,
    /// Mean accuracy of a uniform guess (mean 1/k).
    pub chance_accuracy: Option<f64>,
    /// Mean probability mass the model puts on the classes, `mean(exp(total_logprob))`.
    pub coverage: Option<f64>,
    pub examples: usize,
    /// Examples whose input was shortened to fit the model's context.
    pub truncated: usize,
    /// Numeric tasks: examples none of whose samples held a number (left out of the mean).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub without_estimate: Option<usize>,
}

/// Aggregates one model's per-example results. `class_counts[i]` is the number of classes of
/// example `i` (ignored for `sequence_prob`); `truncated[i]` says whether it was shortened.
pub fn model_stats(task_type: TaskType, metrics: &[Metrics], class_counts: &[usize], truncated: &[bool]) -> ModelStats {
    let mut values = Vec::with_capacity(metrics.len());
    let mut correct = Vec::new();
    let mut mass = Vec::new();
    let mut without_estimate = 0;
    for m in metrics {
        match m {
            Metrics::Classification { loss, correct: c, total_logprob, .. } => {
                values.push(*loss);
                correct.push(f64::from(u8::from(*c)));
                mass.push(total_logprob.exp());
            }
            Metrics::SequenceProb { loss } => values.push(*loss),
            Metrics::Logodds { logodds_difference, correct: c, total_logprob } => {
                values.push(*logodds_difference);
                correct.push(f64::from(u8::from(*c)));
                mass.push(total_logprob.exp());
            }
            Metrics::Numeric { estimate, .. } => match estimate {
                Some(e) => values.push(*e),
                None => without_estimate += 1,
            },
        }
    }
    let mean = |xs: &[f64]| (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64);
    let k: Vec<f64> = class_counts.iter().map(|&k| k as f64).collect();
    let has_classes = !matches!(task_type, TaskType::SequenceProb | TaskType::Numeric);
    ModelStats {
        metric: task_type.metric().to_string(),
        value: Estimate::of(&values),
        accuracy: (!correct.is_empty()).then(|| Estimate::of(&correct)),
        chance_loss: if task_type == TaskType::Classification { mean(&k.iter().map(|k| k.ln()).collect::<Vec<_>>()) } else { None },
        chance_accuracy: if has_classes { mean(&k.iter().map(|k| 1.0 / k).collect::<Vec<_>>()) } else { None },
        coverage: mean(&mass),
        examples: metrics.len(),
        truncated: truncated.iter().filter(|&&t| t).count(),
        without_estimate: (task_type == TaskType::Numeric).then_some(without_estimate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sem_uses_population_std() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(e.mean, 2.5);
        // population variance 1.25, std 1.118..., / sqrt(4)
        assert!((e.sem - 1.25f64.sqrt() / 2.0).abs() < 1e-15);
    }

    #[test]
    fn classification_baselines() {
        let metrics = vec![
            crate::score::metrics::classification(vec![-1.0, -2.0], 0),
            crate::score::metrics::classification(vec![-1.0, -2.0, -0.5], 1),
        ];
        let s = model_stats(TaskType::Classification, &metrics, &[2, 3], &[false, true]);
        assert!((s.chance_loss.unwrap() - (2f64.ln() + 3f64.ln()) / 2.0).abs() < 1e-12);
        assert!((s.chance_accuracy.unwrap() - (0.5 + 1.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(s.accuracy.unwrap().mean, 0.5);
        assert_eq!(s.truncated, 1);
        assert_eq!(s.examples, 2);
    }
}
