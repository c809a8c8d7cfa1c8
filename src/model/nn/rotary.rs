//! Rotary position embeddings (Su et al. 2021, "RoFormer") in the half-split layout
//! transformers uses (`rotate_half`): the leading dimensions of each query and key head are
//! rotated by angles that grow with the position.

use burn::tensor::{Device, Int, Tensor, TensorData};

/// The rotary angles of every position the model reads, computed once on the host.
#[derive(Debug)]
pub struct Rotary {
    /// `cos` and `sin` of position × frequency, `[n_positions, dims]` each; the frequencies
    /// repeat once (dimension j and j + dims/2 share one), as HF's `cat(freqs, freqs)`.
    pub cos: Tensor<2>,
    pub sin: Tensor<2>,
}

impl Rotary {
    /// Frequencies `1 / base^(2j / dims)` and angles rounded to float32 as transformers does;
    /// cosine and sine are taken in float64 on the host, not by the device, whose `cos` of
    /// an angle in the thousands may be far off (WGSL guarantees its precision on [-π, π] only).
    pub fn new(dims: usize, base: f64, n_positions: usize, device: &Device) -> Self {
        let half = dims / 2;
        let inv_freq: Vec<f32> = (0..half).map(|j| (1.0 / base.powf((2 * j) as f64 / dims as f64)) as f32).collect();
        let (mut cos, mut sin) = (Vec::with_capacity(n_positions * dims), Vec::with_capacity(n_positions * dims));
        for p in 0..n_positions {
            for _ in 0..2 {
                for &f in &inv_freq {
                    let angle = (p as f32 * f) as f64;
                    cos.push(angle.cos() as f32);
                    sin.push(angle.sin() as f32);
                }
            }
        }
        let table = |values| Tensor::<2>::from_data(TensorData::new(values, [n_positions, dims]), device);
        Rotary { cos: table(cos), sin: table(sin) }
    }

    /// `cos` and `sin` at `index` (`[b, t]`) → `[b, 1, t, dims]` each.
    pub fn at(&self, index: &Tensor<2, Int>) -> (Tensor<4>, Tensor<4>) {
        let [b, t] = index.dims();
        let [rows, dims] = self.cos.dims();
        let flat = index.clone().reshape([b * t]).clamp(0, rows as i64 - 1);
        let pick = |table: &Tensor<2>| table.clone().select(0, flat.clone()).reshape([b, 1, t, dims]);
        (pick(&self.cos), pick(&self.sin))
    }
}

/// `x` `[b, nh, t, hs]` with its leading `cos.dims()[3]` dimensions rotated: `x·cos +
/// rotate_half(x)·sin`, where `rotate_half` swaps the two halves and negates the new first.
pub fn rotate(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let (dims, hs) = (cos.dims()[3], x.dims()[3]);
    if dims == 0 {
        return x;
    }
    let rotated = x.clone().narrow(3, 0, dims);
    let half = dims / 2;
    let swapped = Tensor::cat(vec![-rotated.clone().narrow(3, half, half), rotated.clone().narrow(3, 0, half)], 3);
    let rotated = rotated * cos.clone() + swapped * sin.clone();
    if dims == hs {
        rotated
    } else {
        Tensor::cat(vec![rotated, x.narrow(3, dims, hs - dims)], 3)
    }
}
