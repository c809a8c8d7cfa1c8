//! The shape of a task's metric across model sizes — the verdict a learner reads off the plot —
//! decided by paired comparisons between models and given a confidence by a paired bootstrap
//! over examples.
//!
//! The rule. Models are ordered by parameter count; every model scored the same examples, so
//! the comparison of two models is paired: `d = mean(v_a − v_b)` over examples with standard
//! error `sd(v_a − v_b) / √n`. Model `a` is *worse* than `b` when `d > z · se` (the metric is a
//! loss: lower is better). `z` is the two-sided 95 % normal quantile, Bonferroni-corrected for
//! the `m = 2(K − 2) + 1` comparisons the rule looks at (K models), so a task with no trend is
//! called flat at least 95 % of the time:
//!
//! - `u-shaped`: some middle model is worse than both the smallest and the largest
//!   (performance falls, then recovers: Wei et al. 2022's U-shaped scaling);
//! - `inverted-u`: some middle model is better than both ends (it improves, then falls back);
//! - `inverse`: otherwise, the largest is worse than the smallest;
//! - `positive`: otherwise, the largest is better than the smallest;
//! - `flat`: none of these.
//!
//! When a curve is both U-shaped and inverted-U (possible from four models on), the one whose
//! middle model stands further out wins. The verdict comes from the full data; the bootstrap
//! (examples resampled with replacement, the same resample for every model, seeded) applies the
//! same rule, with the same standard errors, to each replicate: `support` is the share of
//! replicates that reach each verdict and `confidence` the share that reach the one given.
//! Each model's mean also gets a percentile interval from the same replicates.

use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// One model's per-example metric values; lower is better. Every curve of a trend holds the
/// same examples in the same order.
#[derive(Clone, Copy, Debug)]
pub struct Curve<'a> {
    pub name: &'a str,
    pub parameters: u64,
    /// The training step of the checkpoint, for trends [`Along::Steps`].
    pub step: Option<u64>,
    pub values: &'a [f64],
}

/// What a trend's models are ordered by: their size, or how long they were trained (the
/// checkpoints of one model through training).
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Along {
    #[default]
    Size,
    Steps,
}

#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    Inverse,
    Positive,
    UShaped,
    InvertedU,
    Flat,
}

impl Shape {
    pub const ALL: [Shape; 5] = [Shape::Inverse, Shape::Positive, Shape::UShaped, Shape::InvertedU, Shape::Flat];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Inverse => "inverse",
            Shape::Positive => "positive",
            Shape::UShaped => "u-shaped",
            Shape::InvertedU => "inverted-u",
            Shape::Flat => "flat",
        }
    }
}

/// How the bootstrap is run.
#[derive(Clone, Copy, Debug)]
pub struct TrendSettings {
    pub replicates: usize,
    pub seed: u64,
    /// Family-wise level of the comparisons and the level of the per-model intervals.
    pub level: f64,
    pub along: Along,
}

impl Default for TrendSettings {
    fn default() -> Self {
        TrendSettings { replicates: 1000, seed: 2022, level: 0.95, along: Along::Size }
    }
}

/// A model's mean with its bootstrap percentile interval.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInterval {
    pub name: String,
    pub parameters: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<u64>,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// The share of bootstrap replicates that reach each verdict.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Support {
    pub inverse: f64,
    pub positive: f64,
    #[serde(rename = "u-shaped")]
    pub u_shaped: f64,
    #[serde(rename = "inverted-u")]
    pub inverted_u: f64,
    pub flat: f64,
}

impl Support {
    pub fn of(&self, shape: Shape) -> f64 {
        match shape {
            Shape::Inverse => self.inverse,
            Shape::Positive => self.positive,
            Shape::UShaped => self.u_shaped,
            Shape::InvertedU => self.inverted_u,
            Shape::Flat => self.flat,
        }
    }
}

/// `summary.json`'s `"trend"`.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trend {
    pub verdict: Shape,
    /// Share of bootstrap replicates that reach the verdict.
    pub confidence: f64,
    pub support: Support,
    /// The critical value each paired comparison must exceed, in standard errors.
    pub z: f64,
    pub level: f64,
    pub replicates: usize,
    pub seed: u64,
    pub examples: usize,
    /// In order of parameter count (of training step along steps).
    pub models: Vec<ModelInterval>,
    /// Present for a trend over training steps.
    #[serde(default, skip_serializing_if = "along_size")]
    pub along: Along,
}

fn along_size(along: &Along) -> bool {
    *along == Along::Size
}

/// The trend of `curves` (any order; at least two models and two examples, else `None`).
/// Panics if the curves hold different numbers of examples: callers align them first.
pub fn trend(curves: &[Curve], settings: TrendSettings) -> Option<Trend> {
    let mut curves = curves.to_vec();
    match settings.along {
        Along::Size => curves.sort_by_key(|c| c.parameters),
        Along::Steps => curves.sort_by_key(|c| (c.step, c.parameters)),
    }
    let n = curves.first()?.values.len();
    assert!(curves.iter().all(|c| c.values.len() == n), "trend: curves must hold the same examples");
    if curves.len() < 2 || n < 2 {
        return None;
    }
    let k = curves.len();
    let comparisons = 2 * (k - 2) + 1;
    let z = normal_quantile(1.0 - (1.0 - settings.level) / (2.0 * comparisons as f64));
    let se = paired_standard_errors(&curves);
    let means: Vec<f64> = curves.iter().map(|c| mean(c.values)).collect();
    let verdict = shape(&means, &se, z);

    let mut rng = Rng::new(settings.seed);
    let mut counts = [0usize; 5];
    let mut replicate_means = vec![Vec::with_capacity(settings.replicates); k];
    let mut sample = vec![0usize; n];
    for _ in 0..settings.replicates {
        sample.iter_mut().for_each(|i| *i = rng.below(n));
        let m: Vec<f64> = curves.iter().map(|c| sample.iter().map(|&i| c.values[i]).sum::<f64>() / n as f64).collect();
        counts[Shape::ALL.iter().position(|&s| s == shape(&m, &se, z)).unwrap()] += 1;
        for (all, one) in replicate_means.iter_mut().zip(m) {
            all.push(one);
        }
    }
    let share = |s: Shape| counts[Shape::ALL.iter().position(|&x| x == s).unwrap()] as f64 / settings.replicates.max(1) as f64;
    let support = Support {
        inverse: share(Shape::Inverse),
        positive: share(Shape::Positive),
        u_shaped: share(Shape::UShaped),
        inverted_u: share(Shape::InvertedU),
        flat: share(Shape::Flat),
    };
    let tail = (1.0 - settings.level) / 2.0;
    let models = curves
        .iter()
        .zip(replicate_means.iter_mut())
        .zip(&means)
        .map(|((c, reps), &mean)| {
            reps.sort_by(f64::total_cmp);
            ModelInterval {
                name: c.name.to_string(),
                parameters: c.parameters,
                step: c.step,
                mean,
                low: percentile(reps, tail),
                high: percentile(reps, 1.0 - tail),
            }
        })
        .collect();
    Some(Trend {
        verdict,
        confidence: support.of(verdict),
        support,
        z,
        level: settings.level,
        replicates: settings.replicates,
        seed: settings.seed,
        examples: n,
        models,
        along: settings.along,
    })
}

/// `se[a][b]`: standard error of the mean paired difference between models `a` and `b`
/// (population standard deviation / √n, as everywhere in the summary).
fn paired_standard_errors(curves: &[Curve]) -> Vec<Vec<f64>> {
    let n = curves[0].values.len() as f64;
    curves
        .iter()
        .map(|a| {
            curves
                .iter()
                .map(|b| {
                    let d: Vec<f64> = a.values.iter().zip(b.values).map(|(x, y)| x - y).collect();
                    let m = mean(&d);
                    (d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt() / n.sqrt()
                })
                .collect()
        })
        .collect()
}

/// The rule of the module docs applied to one set of means.
fn shape(means: &[f64], se: &[Vec<f64>], z: f64) -> Shape {
    // How far `a` is worse than `b` beyond the critical value (> 0: significantly worse).
    let worse = |a: usize, b: usize| means[a] - means[b] - z * se[a][b];
    let (first, last) = (0, means.len() - 1);
    let middle = 1..last;
    let dip = middle.clone().map(|j| worse(j, first).min(worse(j, last))).fold(f64::NEG_INFINITY, f64::max);
    let peak = middle.map(|j| worse(first, j).min(worse(last, j))).fold(f64::NEG_INFINITY, f64::max);
    if dip > 0.0 || peak > 0.0 {
        if dip >= peak {
            Shape::UShaped
        } else {
            Shape::InvertedU
        }
    } else if worse(last, first) > 0.0 {
        Shape::Inverse
    } else if worse(first, last) > 0.0 {
        Shape::Positive
    } else {
        Shape::Flat
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Linear interpolation between the order statistics of `sorted` (numpy's default).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo as f64)
}

/// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] =
        [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
    const B: [f64; 5] = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] =
        [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    const LOW: f64 = 0.02425;
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIZES: [u64; 5] = [82, 124, 355, 774, 1558];

    /// Per-example losses: each example has its own difficulty (shared by all models, which
    /// is what pairing exploits) plus model-specific noise around the model's mean.
    fn synthetic(means: &[f64], examples: usize, noise: f64, seed: u64) -> Vec<Vec<f64>> {
        let mut rng = Rng::new(seed);
        let mut gauss = move || {
            // Box–Muller.
            let (u, v) = (rng.next_f64().max(1e-300), rng.next_f64());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let difficulty: Vec<f64> = (0..examples).map(|_| gauss()).collect();
        means.iter().map(|m| difficulty.iter().map(|d| m + d + noise * gauss()).collect()).collect()
    }

    fn verdict_of(means: &[f64], examples: usize, noise: f64, seed: u64) -> Trend {
        let values = synthetic(means, examples, noise, seed);
        let curves: Vec<Curve> = values.iter().zip(SIZES).map(|(v, p)| Curve { name: "m", parameters: p, step: None, values: v }).collect();
        trend(&curves, TrendSettings { replicates: 300, ..TrendSettings::default() }).unwrap()
    }

    #[test]
    fn quantiles() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-6);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.001) + 3.090232).abs() < 1e-6);
        assert!((normal_quantile(0.999) - 3.090232).abs() < 1e-6);
    }

    #[test]
    fn clear_shapes_are_recognised() {
        let cases: [(&[f64], Shape); 6] = [
            (&[1.0, 1.2, 1.4, 1.6], Shape::Inverse),
            (&[1.6, 1.4, 1.2, 1.0], Shape::Positive),
            (&[1.0, 1.5, 1.5, 1.0], Shape::UShaped),
            (&[1.5, 1.0, 1.0, 1.5], Shape::InvertedU),
            (&[1.0, 1.0, 1.0, 1.0, 1.0], Shape::Flat),
            (&[1.0, 1.6], Shape::Inverse),
        ];
        for (means, want) in cases {
            let t = verdict_of(means, 400, 0.5, 3);
            assert_eq!(t.verdict, want, "{means:?}: {t:?}");
            if want != Shape::Flat {
                assert!(t.confidence > 0.9, "{means:?}: {t:?}");
            }
            let total: f64 = Shape::ALL.iter().map(|&s| t.support.of(s)).sum();
            assert!((total - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn a_dip_that_recovers_is_u_shaped_even_below_the_start() {
        // Wei et al.'s U: worse in the middle, better again at the largest size.
        let t = verdict_of(&[1.0, 1.6, 1.3], 600, 0.4, 5);
        assert_eq!(t.verdict, Shape::UShaped, "{t:?}");
        // A drop that then levels off is positive, not inverted-U.
        let t = verdict_of(&[1.6, 1.0, 1.0], 600, 0.4, 5);
        assert_eq!(t.verdict, Shape::Positive, "{t:?}");
    }

    #[test]
    fn noisy_flat_data_is_called_flat_about_95_percent_of_the_time() {
        // The comparisons are Bonferroni-corrected at 5 %: with two models the rate is 5 % by
        // construction, with more it is lower (the comparisons overlap). 400 sets: ±1.1 %.
        for models in [2, 3, 5] {
            let sets = 400;
            let wrong = (0..sets).filter(|seed| verdict_of(&vec![1.0; models], 100, 1.0, 1000 + seed).verdict != Shape::Flat).count();
            let rate = wrong as f64 / sets as f64;
            eprintln!("{models} models, flat data: called non-flat in {:.1} % of {sets} sets", 100.0 * rate);
            assert!(rate <= 0.075, "{models} models: false-positive rate {rate}");
        }
    }

    #[test]
    fn small_effects_in_noise_stay_flat_and_intervals_cover_the_means() {
        let t = verdict_of(&[1.0, 1.01, 1.0, 1.02], 50, 1.0, 11);
        assert_eq!(t.verdict, Shape::Flat, "{t:?}");
        for m in &t.models {
            assert!(m.low < m.mean && m.mean < m.high, "{m:?}");
        }
    }

    #[test]
    fn same_seed_same_trend_and_order_by_size() {
        let values = synthetic(&[1.0, 1.3, 1.6], 80, 0.5, 9);
        let curves = [
            Curve { name: "large", parameters: 774, step: None, values: &values[2] },
            Curve { name: "small", parameters: 124, step: None, values: &values[0] },
            Curve { name: "medium", parameters: 355, step: None, values: &values[1] },
        ];
        let a = trend(&curves, TrendSettings::default()).unwrap();
        let b = trend(&curves, TrendSettings::default()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.verdict, Shape::Inverse);
        let names: Vec<_> = a.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["small", "medium", "large"]);
        let other = trend(&curves, TrendSettings { seed: 1, ..TrendSettings::default() }).unwrap();
        assert_ne!(a.models[0].low, other.models[0].low);
    }

    #[test]
    fn checkpoints_through_training_are_ordered_by_step() {
        // One model's checkpoints: same size, later steps worse (inverse over training).
        let values = synthetic(&[1.0, 1.3, 1.6], 80, 0.5, 9);
        let curves = [
            Curve { name: "m@step8000", parameters: 70, step: Some(8000), values: &values[2] },
            Curve { name: "m@step1", parameters: 70, step: Some(1), values: &values[0] },
            Curve { name: "m@step512", parameters: 70, step: Some(512), values: &values[1] },
        ];
        let t = trend(&curves, TrendSettings { along: Along::Steps, ..TrendSettings::default() }).unwrap();
        assert_eq!(t.verdict, Shape::Inverse);
        assert_eq!(t.models.iter().map(|m| m.step).collect::<Vec<_>>(), [Some(1), Some(512), Some(8000)]);
        assert_eq!(serde_json::to_value(&t).unwrap()["along"], "steps");
        let by_size = trend(&curves, TrendSettings::default()).unwrap();
        assert!(serde_json::to_value(&by_size).unwrap().get("along").is_none(), "size trends keep summary.json's shape");
    }

    #[test]
    fn too_little_data_has_no_trend() {
        let v = [1.0, 2.0];
        assert!(trend(&[Curve { name: "a", parameters: 1, step: None, values: &v }], TrendSettings::default()).is_none());
        let one = [1.0];
        let two =
            [Curve { name: "a", parameters: 1, step: None, values: &one }, Curve { name: "b", parameters: 2, step: None, values: &one }];
        assert!(trend(&two, TrendSettings::default()).is_none());
    }
}
