//! GELU (tanh form) and softmax over the CPU backend's float32 tensors, each in one sweep with
//! an `exp` the compiler vectorises.
//!
//! The backend computes `exp` one element at a time through the C library, and a GELU as
//! eight element-wise kernels, each writing a tensor the size of the MLP's; masked attention
//! scores (float32's minimum) take the library's slow underflow path. Together they took a
//! tenth of a native pass (see DEVELOPERS.md, "Profiling").

use burn::tensor::{DType, Device, Tensor, TensorData};

use super::host::{f32s, on_host};

/// Elements below which a sweep stays on the caller's thread.
#[cfg(not(target_family = "wasm"))]
const PARALLEL_ELEMENTS: usize = 1 << 16;

/// `e^x` within 2 ulp of the exact value for normal results; 0 where `e^x` is below float32's
/// smallest normal (`x` < −87.3), infinity above `x` = 88.37 (a little early: float32
/// overflows at 88.72), NaN for NaN. Cody and Waite's
/// reduction `x = n·ln 2 + r`, `|r| ≤ ln 2 / 2`, then Cephes' degree-7 polynomial for `e^r`,
/// scaled by `2^n` built from its bits: no branch, no table, so loops over slices vectorise.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // 1.5 · 2^23: adding it rounds to an integer, which its low bits then hold.
    const ROUND: f32 = 12_582_912.0;
    // ln 2 in two parts, the first exact in 9 bits, so that n · LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // ln(2^-126) and ln(2^127.49): where n stays within a normal float's exponents.
    const LOWEST: f32 = -87.336_55;
    const HIGHEST: f32 = 88.37;
    let within = x.clamp(LOWEST, HIGHEST);
    let rounded = within * LOG2_E + ROUND;
    let n = rounded - ROUND;
    let r = (within - n * LN2_HI) - n * LN2_LO;
    let p = (((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 0.5) * (r * r)
        + r
        + 1.0;
    let exponent = (rounded.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23;
    let y = p * f32::from_bits(exponent as u32);
    if x < LOWEST {
        0.0
    } else if x > HIGHEST {
        f32::INFINITY
    } else if x.is_nan() {
        x
    } else {
        y
    }
}

/// GPT-2's GELU, `x / (1 + e^(−2u))`, `u = √(2/π)·(x + 0.044715·x³)` (see
/// [`crate::model::nn`]), where `x` is a float32 tensor of the CPU backend; `None` otherwise.
pub fn gelu_tanh<const D: usize>(x: &Tensor<D>) -> Option<Tensor<D>> {
    on_cpu(x, Sweep::GeluTanh)
}

/// Softmax over the last dimension, `e^(x − max) / Σ e^(x − max)`, where `x` is a float32
/// tensor of the CPU backend; `None` otherwise. A score of float32's minimum (a masked one)
/// gets exactly 0 in a row where any score is above it (a row of masked scores only, as a
/// padding query's, gets equal weights, as with the backend's softmax).
pub fn softmax_last<const D: usize>(x: &Tensor<D>) -> Option<Tensor<D>> {
    match x.dims()[D - 1] {
        0 => None,
        row => on_cpu(x, Sweep::Softmax { row }),
    }
}

/// What a sweep computes from its input.
#[derive(Clone, Copy)]
enum Sweep {
    GeluTanh,
    /// Over each run of `row` elements.
    Softmax {
        row: usize,
    },
}

impl Sweep {
    /// Elements that go together: a sweep is cut between them only.
    #[cfg(not(target_family = "wasm"))]
    fn row(self) -> usize {
        match self {
            Sweep::GeluTanh => 1,
            Sweep::Softmax { row } => row,
        }
    }

    /// Inlined into [`with_avx2`], so that it is compiled for AVX2 there.
    #[inline(always)]
    fn run(self, input: &[f32], output: &mut [f32]) {
        match self {
            Sweep::GeluTanh => {
                const MINUS_TWO_SQRT_2_OVER_PI: f32 = (-2.0 * 0.797_884_560_802_865_4) as f32;
                for (y, &x) in output.iter_mut().zip(input) {
                    let minus_2u = (x + x * x * x * 0.044715) * MINUS_TWO_SQRT_2_OVER_PI;
                    *y = x / (exp(minus_2u) + 1.0);
                }
            }
            Sweep::Softmax { row } => {
                for (input, output) in input.chunks_exact(row).zip(output.chunks_exact_mut(row)) {
                    // The largest score, exactly, in any order.
                    let max = reduce(input, f32::NEG_INFINITY, |m, x| if x > m { x } else { m });
                    output.iter_mut().zip(input).for_each(|(y, &x)| *y = exp(x - max));
                }
                // Each row's sum in key order, so that a masked key (an exact zero) changes no
                // bit of it wherever it sits: a row's weights do not depend on the padding of
                // the pass that holds it. Eight rows side by side make eight chains of sums.
                let mut rows = output.chunks_exact_mut(LANES * row);
                for rows in &mut rows {
                    let mut sums = [0.0f32; LANES];
                    for j in 0..row {
                        for (lane, sum) in sums.iter_mut().enumerate() {
                            *sum += rows[lane * row + j];
                        }
                    }
                    for (output, sum) in rows.chunks_exact_mut(row).zip(sums) {
                        let inverse = 1.0 / sum;
                        output.iter_mut().for_each(|y| *y *= inverse);
                    }
                }
                for output in rows.into_remainder().chunks_exact_mut(row) {
                    let inverse = 1.0 / output.iter().sum::<f32>();
                    output.iter_mut().for_each(|y| *y *= inverse);
                }
            }
        }
    }

    /// [`Self::run`] compiled for the widest vectors the machine has: AVX2 where an x86-64 has
    /// it (the build's baseline is SSE2, half as wide). Rust never fuses a multiply and an add
    /// on its own, so the numbers are the same either way.
    fn run_widest(self, input: &[f32], output: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, just checked.
            return unsafe { with_avx2(self, input, output) };
        }
        self.run(input, output)
    }
}

/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2(sweep: Sweep, input: &[f32], output: &mut [f32]) {
    sweep.run(input, output)
}

/// Lanes of a reduction: a loop that carries one value from element to element cannot be
/// vectorised (float addition is not associative), one that carries eight can.
const LANES: usize = 8;

/// `values` folded by `f` from `start` in [`LANES`] interleaved runs, then those combined.
#[inline(always)]
fn reduce(values: &[f32], start: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [start; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &x) in lanes.iter_mut().zip(chunk) {
            *lane = f(*lane, x);
        }
    }
    let folded = lanes.into_iter().fold(start, &f);
    tail.iter().fold(folded, |acc, &x| f(acc, x))
}

/// `sweep` over `x`'s elements in row-major order (in runs of whole rows, on all cores
/// natively), as a new tensor of `x`'s shape; `None` where `x` is not a float32 tensor of the
/// CPU backend.
fn on_cpu<const D: usize>(x: &Tensor<D>, sweep: Sweep) -> Option<Tensor<D>> {
    let device = x.device();
    if device != Device::flex() || x.dtype() != DType::F32 {
        return None;
    }
    let host = on_host(x.clone())?;
    let input = f32s(&host)?;
    let mut output = vec![0.0f32; input.len()];
    #[cfg(not(target_family = "wasm"))]
    if input.len() >= PARALLEL_ELEMENTS {
        use rayon::prelude::{IndexedParallelIterator, ParallelIterator, ParallelSlice, ParallelSliceMut};
        let run = sweep.row() * (PARALLEL_ELEMENTS / 4 / sweep.row()).max(1);
        output.par_chunks_mut(run).zip(input.par_chunks(run)).for_each(|(output, input)| sweep.run_widest(input, output));
        return Some(Tensor::from_data(TensorData::new(output, x.dims()), &device));
    }
    sweep.run_widest(input, &mut output);
    Some(Tensor::from_data(TensorData::new(output, x.dims()), &device))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::activation::softmax;
    use burn::tensor::Tolerance;

    /// Distance in units in the last place of `want`.
    fn ulps(got: f32, want: f64) -> f64 {
        let want32 = want as f32;
        let ulp = (f32::from_bits(want32.to_bits() + 1) - want32) as f64;
        (got as f64 - want).abs() / ulp
    }

    #[test]
    fn exp_is_within_two_ulp_over_its_normal_range() {
        let mut worst = (0.0, 0.0f32);
        let (lowest, highest) = (-87.3f32, 88.3f32);
        let steps = 2_000_000;
        for i in 0..=steps {
            let x = lowest + (highest - lowest) * i as f32 / steps as f32;
            let off = ulps(exp(x), (x as f64).exp());
            if off > worst.0 {
                worst = (off, x);
            }
        }
        assert!(worst.0 <= 2.0, "{} ulp at {}", worst.0, worst.1);
        for x in [0.0f32, 1.0, -1.0, 1e-8, -1e-8, 0.5, -0.3465, 0.3466] {
            assert!(ulps(exp(x), (x as f64).exp()) <= 1.0, "exp({x}) = {}", exp(x));
        }
    }

    #[test]
    fn exp_underflows_to_zero_overflows_to_infinity_and_keeps_nan() {
        for x in [-87.4f32, -100.0, -1e6, f32::MIN, f32::MIN - 3.0, f32::NEG_INFINITY] {
            assert_eq!(exp(x), 0.0, "exp({x})");
        }
        for x in [88.4f32, 100.0, f32::MAX, f32::INFINITY] {
            assert_eq!(exp(x), f32::INFINITY, "exp({x})");
        }
        assert!(exp(f32::NAN).is_nan());
    }

    fn tensor(values: Vec<f32>, shape: [usize; 3]) -> Tensor<3> {
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    /// [`values`](super::dense_kernel) in [-scale/2, scale/2).
    fn values(len: usize, seed: u32, scale: f32) -> Vec<f32> {
        crate::kernels::dense_kernel::values(len, seed).into_iter().map(|x| x * scale).collect()
    }

    #[test]
    fn gelu_equals_the_tanh_formula() {
        // Both sides of zero, far into the tails, on one thread and on all.
        for len in [7, 3 * 40_000] {
            let x = values(len, 1, 24.0);
            let got = gelu_tanh(&tensor(x.clone(), [1, 1, len])).expect("float32 on the CPU backend").into_data();
            let want: Vec<f32> = x
                .iter()
                .map(|&x| {
                    let x = x as f64;
                    (0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x.powi(3))).tanh())) as f32
                })
                .collect();
            got.assert_approx_eq::<f32>(&TensorData::new(want, [1, 1, len]), Tolerance::absolute(1e-6));
        }
    }

    #[test]
    fn softmax_equals_the_backends_and_gives_masked_scores_nothing() {
        for (rows, row) in [(3, 5), (2_000, 37)] {
            let mut x = values(rows * row, 2, 30.0);
            // Masked as attention masks them: float32's minimum, whole rows but one score.
            x.iter_mut().step_by(3).for_each(|x| *x = f32::MIN);
            x[row..2 * row - 1].iter_mut().for_each(|x| *x = f32::MIN);
            x[2 * row - 1] = 1.0;
            let x = tensor(x, [1, rows, row]);
            let got = softmax_last(&x).expect("float32 on the CPU backend").into_data();
            got.assert_approx_eq::<f32>(&softmax(x.clone(), 2).into_data(), Tolerance::absolute(1e-6));
            let (got, x) = (got.try_to_vec::<f32>().unwrap(), x.into_data().try_to_vec::<f32>().unwrap());
            assert!(got.iter().zip(&x).all(|(p, &x)| x != f32::MIN || *p == 0.0), "masked scores get exactly 0");
            assert_eq!(got[2 * row - 1], 1.0, "the one score a row may see");
        }
    }

    #[test]
    fn a_rows_weights_do_not_depend_on_masked_keys_around_its_own() {
        // One row of 45 scores alone, and among 11 rows with masked keys (padding) inserted
        // after its 10th and 30th scores and at its end.
        let scores = values(45, 4, 2.0);
        let alone = softmax_last(&tensor(scores.clone(), [1, 1, 45])).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let row = 45 + 3 + 5 + 2;
        let mut padded = scores[..10].to_vec();
        padded.extend([f32::MIN; 3]);
        padded.extend(&scores[10..30]);
        padded.extend([f32::MIN; 5]);
        padded.extend(&scores[30..]);
        padded.extend([f32::MIN; 2]);
        let mut many = values(11 * row, 5, 20.0);
        many[4 * row..5 * row].copy_from_slice(&padded);
        let weights = softmax_last(&tensor(many, [1, 11, row])).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let weights: Vec<f32> = weights[4 * row..5 * row].iter().zip(&padded).filter(|(_, &x)| x != f32::MIN).map(|(w, _)| *w).collect();
        assert_eq!(weights, alone);
    }

    #[test]
    fn other_dtypes_are_left_to_the_backend() {
        let x = tensor(values(8, 3, 1.0), [1, 2, 4]).cast(burn::tensor::FloatDType::F16);
        assert!(gelu_tanh(&x).is_none() && softmax_last(&x).is_none());
    }
}
