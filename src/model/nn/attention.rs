//! Multi-head attention with separate query, key, value and output projections, as
//! transformers writes it for GPT-Neo and OPT (`q_proj`, `k_proj`, `v_proj`, `out_proj`). The
//! attention itself (over past keys and values, masked) is [`super::self_attention`].

use burn::tensor::Tensor;

use super::{dense, split_heads, Dense, KeyValues};
use crate::checkpoint::WeightsError;
use crate::model::layout::Weights;

/// The four projections of one layer's attention.
#[derive(Debug)]
pub struct SeparateQkv {
    pub q_proj: Dense,
    pub k_proj: Dense,
    pub v_proj: Dense,
    pub out_proj: Dense,
    pub n_head: usize,
}

impl SeparateQkv {
    /// `{prefix}.q_proj`, `{prefix}.k_proj`, `{prefix}.v_proj` and `{prefix}.out_proj`.
    pub(crate) fn from_weights(w: &mut Weights, prefix: &str, n_head: usize) -> Result<Self, WeightsError> {
        let mut projection = |name: &str| w.linear(&format!("{prefix}.{name}"));
        Ok(SeparateQkv {
            q_proj: projection("q_proj")?,
            k_proj: projection("k_proj")?,
            v_proj: projection("v_proj")?,
            out_proj: projection("out_proj")?,
            n_head,
        })
    }

    /// Queries `[b, nh, t, hs]` of `x` `[b, t, C]`, multiplied by `scale` when given (OPT scales
    /// them before the product, as transformers does).
    pub fn queries(&self, x: Tensor<3>, scale: Option<f64>) -> Tensor<4> {
        let q = dense(&self.q_proj, x);
        split_heads(scale.map_or(q.clone(), |s| q * s), self.n_head)
    }

    /// Keys and values of `x`, `[b, nh, t, hs]` each.
    pub fn key_values(&self, x: Tensor<3>) -> KeyValues {
        KeyValues { k: split_heads(dense(&self.k_proj, x.clone()), self.n_head), v: split_heads(dense(&self.v_proj, x), self.n_head) }
    }

    /// The heads' attended values `[b, t, C]` through the output projection.
    pub fn output(&self, attended: Tensor<3>) -> Tensor<3> {
        dense(&self.out_proj, attended)
    }
}
