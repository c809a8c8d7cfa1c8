//! How each example fares across a run's models, for the page's examples view: the main
//! metric under each model in order of size, how much it moved from the smallest model to the
//! largest, and whether the models agree on it. This is where a learner finds the examples
//! that scale inversely.

use std::collections::HashMap;

use serde::Serialize;

use super::ModelResults;
use crate::score::Metrics;

/// The examples of a run across its models.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExampleChanges {
    /// The models in order of size (of training step at one size), as `values` holds them.
    pub models: Vec<String>,
    pub examples: Vec<ExampleChange>,
}

/// One example across the models.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExampleChange {
    pub index: usize,
    /// The main metric (loss, logodds difference or estimate) under each model; `None` where
    /// the model did not score it or read no number.
    pub values: Vec<Option<f64>>,
    /// The largest model's value minus the smallest's: for a loss or a logodds difference
    /// (lower is better) a positive change is worse with size. `None` with one model.
    pub change: Option<f64>,
    /// Right under some models and wrong under others (tasks with a right answer).
    pub disagree: bool,
    /// Wrong under every model that scored it (tasks with a right answer).
    pub wrong_under_all: bool,
}

/// Each of the task's `examples` across `models`.
pub fn example_changes(models: &[ModelResults], examples: usize) -> ExampleChanges {
    let mut order: Vec<&ModelResults> = models.iter().collect();
    order.sort_by_key(|m| (m.parameters, m.step));
    let by_index: Vec<HashMap<usize, &Metrics>> = order.iter().map(|m| m.results.iter().map(|r| (r.index, &r.metrics)).collect()).collect();
    let examples = (0..examples)
        .map(|index| {
            let metrics: Vec<Option<&Metrics>> = by_index.iter().map(|m| m.get(&index).copied()).collect();
            let values: Vec<Option<f64>> = metrics.iter().map(|m| m.map(Metrics::value).filter(|v| v.is_finite())).collect();
            let change = match (values.first(), values.last()) {
                (Some(Some(first)), Some(Some(last))) if values.len() > 1 => Some(last - first),
                _ => None,
            };
            let correct: Vec<bool> = metrics.iter().flatten().filter_map(|m| correctness(m)).collect();
            let disagree = correct.iter().any(|&c| c) && correct.iter().any(|&c| !c);
            let wrong_under_all = !correct.is_empty() && correct.iter().all(|&c| !c);
            ExampleChange { index, values, change, disagree, wrong_under_all }
        })
        .collect();
    ExampleChanges { models: order.iter().map(|m| m.name.to_string()).collect(), examples }
}

/// Whether the model got the example right, for tasks with a right answer.
fn correctness(metrics: &Metrics) -> Option<bool> {
    match metrics {
        Metrics::Classification { correct, .. } | Metrics::Logodds { correct, .. } => Some(*correct),
        Metrics::SequenceProb { .. } | Metrics::Numeric { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::ExampleResult;

    fn classified(index: usize, loss: f64, correct: bool) -> ExampleResult {
        let metrics = Metrics::Classification { loss, correct, predicted: 0, total_logprob: -1.0, class_logprobs: vec![-loss, -1.0] };
        ExampleResult { index, metrics, truncated: false }
    }

    #[test]
    fn examples_are_read_from_the_smallest_model_to_the_largest() {
        let large = [classified(0, 2.0, false), classified(1, 0.5, true)];
        let small = [classified(0, 0.5, true), classified(1, 0.7, true)];
        // A model cut short scored only the first example.
        let medium = [classified(0, 1.0, false)];
        let models = [
            ModelResults { name: "large", parameters: 700, step: None, results: &large },
            ModelResults { name: "small", parameters: 100, step: None, results: &small },
            ModelResults { name: "medium", parameters: 300, step: None, results: &medium },
        ];
        let changes = example_changes(&models, 2);
        assert_eq!(changes.models, ["small", "medium", "large"]);
        let [worse, better] = &changes.examples[..] else { panic!("two examples") };
        assert_eq!(worse.values, [Some(0.5), Some(1.0), Some(2.0)]);
        assert_eq!((worse.change, worse.disagree, worse.wrong_under_all), (Some(1.5), true, false));
        assert_eq!(better.values, [Some(0.7), None, Some(0.5)]);
        assert!((better.change.unwrap() + 0.2).abs() < 1e-12);
        assert_eq!((better.disagree, better.wrong_under_all), (false, false));
        let alone = example_changes(&models[..1], 2);
        assert_eq!((alone.examples[0].change, alone.examples[0].wrong_under_all), (None, true));
    }
}
