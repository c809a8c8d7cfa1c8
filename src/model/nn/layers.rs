//! The parts every family is built from: LayerNorm, dense layers, activations, causal
//! self-attention over earlier keys and values, and what those earlier positions are.

use burn::module::{Module, Param};
use burn::tensor::activation::{gelu, relu, sigmoid, softmax};
use burn::tensor::module::layer_norm;
use burn::tensor::{Bool, Device, Int, Tensor};

use super::dense::Dense;
use crate::kernels::cpu_activations;

/// LayerNorm with the checkpoint's names (`weight`, `bias`) and the config's epsilon.
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub eps: f64,
}

impl LayerNorm {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.weight.val(), Some(self.bias.val()), self.eps)
    }
}

/// `x · weight + bias` (see [`Dense::forward`]).
pub fn dense<const D: usize>(layer: &Dense, x: Tensor<D>) -> Tensor<D> {
    layer.forward(x)
}

/// The position-wise nonlinearity of an MLP, named as in `config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// GPT-2's tanh approximation (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    GeluTanh,
    /// The exact, erf-based GELU (`gelu`).
    Gelu,
    Relu,
    /// `x·sigmoid(x)` (`silu`, `swish`).
    Silu,
    /// `x·sigmoid(1.702·x)` (`quick_gelu`).
    QuickGelu,
}

/// `activation_function` or `hidden_act` of `config.json`, by its transformers name.
impl<'de> serde::Deserialize<'de> for Activation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Activation::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("`{name}` is not supported (supported: {})", Activation::NAMES)))
    }
}

impl Activation {
    pub const NAMES: &'static str = "gelu_new, gelu_pytorch_tanh, gelu_fast, gelu, relu, silu, swish, quick_gelu";

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "gelu" => Activation::Gelu,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Silu,
            "quick_gelu" => Activation::QuickGelu,
            _ => return None,
        })
    }

    pub fn forward<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::GeluTanh => gelu_tanh(x),
            Activation::Gelu => gelu(x),
            Activation::Relu => relu(x),
            Activation::Silu => x.clone() * sigmoid(x),
            Activation::QuickGelu => x.clone() * sigmoid(x * 1.702),
        }
    }
}

/// `0.5·x·(1 + tanh(u))`, `u = √(2/π)·(x + 0.044715·x³)`, computed as its equal
/// `x / (1 + exp(-2u))`: the CPU backend's `tanh` is scalar libm and took a sixth of the
/// time, `exp` is cheaper. The cube is two multiplies: a general `powf` took a tenth. On the
/// CPU backend, in one sweep ([`cpu_activations`]).
fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if let Some(y) = cpu_activations::gelu_tanh(&x) {
        return y;
    }
    const MINUS_TWO_SQRT_2_OVER_PI: f64 = -2.0 * 0.797_884_560_802_865_4;
    let cube = x.clone() * x.clone() * x.clone();
    let minus_2u = (x.clone() + cube * 0.044715) * MINUS_TWO_SQRT_2_OVER_PI;
    x / (minus_2u.exp() + 1.0)
}

/// The keys and values of a layer's positions, per head: `[b, nh, t, hs]` each. Later
/// positions read them: a continuation attends to its prefix's.
#[derive(Clone, Debug)]
pub struct KeyValues {
    pub k: Tensor<4>,
    pub v: Tensor<4>,
}

impl KeyValues {
    /// Rows `rows` (`[s]`) of the batch, e.g. each continuation's prefix.
    pub fn select(&self, rows: Tensor<1, Int>) -> KeyValues {
        KeyValues { k: self.k.clone().select(0, rows.clone()), v: self.v.clone().select(0, rows) }
    }

    /// These positions followed by `later`'s.
    pub fn then(&self, later: &KeyValues) -> KeyValues {
        KeyValues { k: Tensor::cat(vec![self.k.clone(), later.k.clone()], 2), v: Tensor::cat(vec![self.v.clone(), later.v.clone()], 2) }
    }
}

/// The keys and values of a run of positions in every layer: what later positions attend to,
/// so that a prefix many sequences start with is read once for all of them.
#[derive(Clone, Debug)]
pub struct PastKeyValues {
    pub layers: Vec<KeyValues>,
}

impl PastKeyValues {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |kv| kv.k.dims()[2])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// These positions followed by `later`'s (same rows).
    pub fn then(&self, later: &PastKeyValues) -> PastKeyValues {
        PastKeyValues { layers: self.layers.iter().zip(&later.layers).map(|(a, b)| a.then(b)).collect() }
    }
}

/// What a batch's positions attend to before their own, in one layer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Past<'a> {
    /// A prefix every row continues, `[1, nh, e, hs]`: each position sees all of it, and it is
    /// never copied per row.
    pub common: Option<&'a KeyValues>,
    /// Each row's own earlier positions after `common`, `[b, nh, p, hs]`, masked by `mask`.
    pub rows: Option<&'a KeyValues>,
}

/// How a batch of continuations attends to a batch of shared prefixes.
#[derive(Clone, Debug)]
pub struct SharedPrefix {
    /// `[s]`: the prefix row each continuation row continues.
    pub prefix_of: Tensor<1, Int>,
    /// `[s, 1, l, p + l]`, true where a continuation position may not look: prefix padding
    /// beyond its own prefix's length, and its own future (`common` is always seen).
    pub mask: Tensor<4, Bool>,
    /// `[s, l]`: each continuation token's position in its full sequence (after `common`).
    pub positions: Tensor<2, Int>,
}

/// Causal self-attention of queries `q` (`[b, nh, t, hs]`) over `past` and their own keys and
/// values `own`; `mask` (`[b or 1, 1, t, p + t]`, true = may not look, over `past.rows`
/// and `own`) is causal and also hides the padding of `past.rows`. Scores are divided by
/// `scale`. Returns `[b, t, nh·hs]`.
pub fn self_attention(q: Tensor<4>, own: &KeyValues, past: Past<'_>, mask: Tensor<4, Bool>, scale: f64) -> Tensor<3> {
    self_attention_within(q, own, past, mask, None, scale)
}

/// [`self_attention`] where some keys of `past.common` are masked too (`common_mask`,
/// `[b or 1, 1, t, e]`, true = may not look): local attention's window.
pub fn self_attention_within(
    q: Tensor<4>,
    own: &KeyValues,
    past: Past<'_>,
    mask: Tensor<4, Bool>,
    common_mask: Option<Tensor<4, Bool>>,
    scale: f64,
) -> Tensor<3> {
    let [b, nh, t, hs] = q.dims();
    let (k, v) = match past.rows {
        Some(rows) => {
            let kv = rows.then(own);
            (kv.k, kv.v)
        }
        None => (own.k.clone(), own.v.clone()),
    };
    attend(q, past.common, k, v, mask, common_mask, scale).swap_dims(1, 2).reshape([b, t, nh * hs])
}

/// `softmax(q·kᵀ/scale + mask)·v` over the keys of `common` (all visible unless
/// `common_mask` hides some) then `k`, where
/// masked (true) entries of the latter get float32's minimum, as HF fills them (not -inf),
/// so their weight is exactly zero.
fn attend(
    q: Tensor<4>,
    common: Option<&KeyValues>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Tensor<4, Bool>,
    common_mask: Option<Tensor<4, Bool>>,
    scale: f64,
) -> Tensor<4> {
    let att = (q.clone().matmul(k.swap_dims(2, 3)) / scale).mask_fill(mask, f32::MIN); // (B, nh, T, keys)
    let Some(common) = common else {
        return softmax_last(att).matmul(v);
    };
    let e = common.k.dims()[2];
    let keys = att.dims()[3];
    let seen = per_head(q, |q| matmul_rows(q, common.k.clone().swap_dims(2, 3))) / scale; // (B, nh, T, e)
    let seen = match common_mask {
        Some(mask) => seen.mask_fill(mask, f32::MIN),
        None => seen,
    };
    let weights = softmax_last(Tensor::cat(vec![seen, att], 3));
    let on_common = weights.clone().narrow(3, 0, e);
    weights.narrow(3, e, keys).matmul(v) + per_head(on_common, |w| matmul_rows(w, common.v.clone()))
}

/// Softmax over the keys (see [`cpu_activations::softmax_last`]).
fn softmax_last(scores: Tensor<4>) -> Tensor<4> {
    cpu_activations::softmax_last(&scores).unwrap_or_else(|| softmax(scores, 3))
}

/// `f` over `x` `[b, nh, t, d]` with every row's positions side by side, `[1, nh, b·t, d]`, so
/// that one `[1, nh, ·, ·]` operand (a common prefix's keys or values) serves every row
/// without a copy per row; the result `[1, nh, b·t, d']` comes back as `[b, nh, t, d']`.
fn per_head(x: Tensor<4>, f: impl FnOnce(Tensor<4>) -> Tensor<4>) -> Tensor<4> {
    let [b, nh, t, d] = x.dims();
    let y = f(x.swap_dims(0, 1).reshape([1, nh, b * t, d]));
    let out = y.dims()[3];
    y.reshape([nh, b, t, out]).swap_dims(0, 1)
}

/// `a · b` (over the last two dimensions), where a row of `a` gets the same numbers whatever
/// rows are beside it. The CPU backend's product of a single row is a matrix-vector product,
/// which sums in another order than the matrix product of several (its last bits differ once
/// the sums are a few hundred terms long), so a single row goes with a copy of itself: a
/// token's numbers then do not depend on how many others its pass holds.
pub fn matmul_rows<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    if a.dims()[D - 2] != 1 {
        return a.matmul(b);
    }
    Tensor::cat(vec![a.clone(), a], D - 2).matmul(b).narrow(D - 2, 0, 1)
}

/// `[b, t, nh·hs]` → `[b, nh, t, hs]`.
pub fn split_heads(x: Tensor<3>, n_head: usize) -> Tensor<4> {
    let [b, t, c] = x.dims();
    x.reshape([b, t, n_head, c / n_head]).swap_dims(1, 2)
}

/// After `p` earlier positions, position i may look at those and at positions ≤ i:
/// `[1, 1, t, p + t]`, true where it may not.
pub fn causal_mask(t: usize, p: usize, device: &Device) -> Tensor<4, Bool> {
    Tensor::<2, Bool>::tril_mask([t, p + t], p as i64, device).unsqueeze::<4>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn tensor(shape: [usize; 4], seed: u32) -> Tensor<4> {
        let values = crate::kernels::dense_kernel::values(shape.iter().product(), seed);
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    #[test]
    fn a_rows_product_does_not_depend_on_the_rows_beside_it() {
        // Attention weights over a long common prefix (1024 keys) times its values, per head.
        let values = tensor([1, 3, 1024, 64], 1);
        let weights = tensor([1, 3, 6, 1024], 2);
        let together = matmul_rows(weights.clone(), values.clone()).into_data().try_into_vec::<f32>().unwrap();
        for row in 0..6 {
            let alone = matmul_rows(weights.clone().narrow(2, row, 1), values.clone()).into_data().try_into_vec::<f32>().unwrap();
            for head in 0..3 {
                let want = &together[(head * 6 + row) * 64..][..64];
                let got = &alone[head * 64..][..64];
                assert!(got.iter().zip(want).all(|(a, b)| a.to_bits() == b.to_bits()), "row {row}, head {head}");
            }
        }
    }
}
