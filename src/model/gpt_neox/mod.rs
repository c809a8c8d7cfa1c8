//! GPT-NeoX (Black et al. 2022), the architecture of Pythia (Biderman et al. 2023), in Burn.
//!
//! Differs from GPT-2 in three places: positions are rotary (the leading `rotary_dims` of
//! each query and key head are rotated by angles that grow with the position, nothing is added
//! to the embedding), attention and MLP read the same input and are added together (parallel
//! residual, unless the config says otherwise), and the LM head `embed_out` is its own matrix.
//! Field names follow the Hub checkpoint's keys (`layers.{i}.attention.query_key_value`, …).

pub(crate) mod config;

use burn::tensor::{Bool, Device, Int, Tensor};

use crate::checkpoint::WeightsError;
use crate::model::decoder::{Decoder, Positions};
use crate::model::layout::Weights;
use crate::model::nn::{dense, rotate, self_attention, Activation, Dense, KeyValues, LayerNorm, Past, Rotary};
use crate::model::VocabMatrix;
use config::GptNeoXConfig;

/// Multi-head causal self-attention with rotary positions.
#[derive(Debug)]
pub struct Attention {
    /// Per head, its query, key and value rows side by side: `[C, 3C]` once transposed to `[in, out]`.
    pub query_key_value: Dense,
    pub dense: Dense,
    pub n_head: usize,
}

impl Attention {
    /// Queries, and keys and values, per head, queries and keys rotated: `[b, t, C]` →
    /// `[b, nh, t, hs]` each.
    fn heads(&self, x: Tensor<3>, at: &Positions) -> (Tensor<4>, KeyValues) {
        let [b, t, c] = x.dims();
        let hs = c / self.n_head;
        let qkv = dense(&self.query_key_value, x).reshape([b, t, self.n_head, 3 * hs]).swap_dims(1, 2); // (B, nh, T, 3hs)
        let (q, k, v) = (qkv.clone().narrow(3, 0, hs), qkv.clone().narrow(3, hs, hs), qkv.narrow(3, 2 * hs, hs));
        let (q, k) = match &at.rotary {
            Some((cos, sin)) => (rotate(q, cos, sin), rotate(k, cos, sin)),
            None => (q, k),
        };
        (q, KeyValues { k, v })
    }

    fn forward(&self, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>, at: &Positions) -> (Tensor<3>, KeyValues) {
        let (q, own) = self.heads(x, at);
        let scale = (q.dims()[3] as f64).sqrt();
        (dense(&self.dense, self_attention(q, &own, past, mask, scale)), own)
    }
}

/// The position-wise feed-forward network.
#[derive(Debug)]
pub struct Mlp {
    pub dense_h_to_4h: Dense,
    pub dense_4h_to_h: Dense,
    pub activation: Activation,
}

impl Mlp {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        dense(&self.dense_4h_to_h, self.activation.forward(dense(&self.dense_h_to_4h, x)))
    }
}

/// One transformer layer.
#[derive(Debug)]
pub struct Layer {
    pub input_layernorm: LayerNorm,
    pub attention: Attention,
    pub post_attention_layernorm: LayerNorm,
    pub mlp: Mlp,
    /// `x + attn(ln1(x)) + mlp(ln2(x))`; else `y = x + attn(ln1(x))`, `y + mlp(ln2(y))`.
    pub parallel_residual: bool,
}

impl Layer {
    fn forward(&self, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>, at: &Positions) -> (Tensor<3>, KeyValues) {
        let (a, own) = self.attention.forward(self.input_layernorm.forward(x.clone()), past, mask, at);
        let out = if self.parallel_residual {
            self.mlp.forward(self.post_attention_layernorm.forward(x.clone())) + a + x
        } else {
            let y = a + x;
            self.mlp.forward(self.post_attention_layernorm.forward(y.clone())) + y
        };
        (out, own)
    }
}

/// The GPT-NeoX language model.
#[derive(Debug)]
pub struct GptNeoX {
    /// Token embedding `[vocab_size, C]`.
    pub embed_in: VocabMatrix,
    pub layers: Vec<Layer>,
    pub final_layer_norm: LayerNorm,
    /// The LM head `[vocab_size, C]`; `None` when tied to `embed_in`.
    pub embed_out: Option<VocabMatrix>,
    /// `None` when no dimension is rotary.
    pub rotary: Option<Rotary>,
    /// Longest sequence the model reads.
    pub n_positions: usize,
}

impl GptNeoX {
    /// The network from its checkpoint's tensors (keys as in [`GptNeoXConfig::tensors`]).
    pub(crate) fn from_weights(config: &GptNeoXConfig, w: &mut Weights, device: &Device) -> Result<Self, WeightsError> {
        let (s, eps) = (&config.sizes, config.layer_norm_eps);
        let mut layers = Vec::with_capacity(s.n_layer);
        for i in 0..s.n_layer {
            let p = format!("layers.{i}.");
            layers.push(Layer {
                input_layernorm: w.norm(&format!("{p}input_layernorm"), eps)?,
                attention: Attention {
                    query_key_value: w.linear(&format!("{p}attention.query_key_value"))?,
                    dense: w.linear(&format!("{p}attention.dense"))?,
                    n_head: s.n_head,
                },
                post_attention_layernorm: w.norm(&format!("{p}post_attention_layernorm"), eps)?,
                mlp: Mlp {
                    dense_h_to_4h: w.linear(&format!("{p}mlp.dense_h_to_4h"))?,
                    dense_4h_to_h: w.linear(&format!("{p}mlp.dense_4h_to_h"))?,
                    activation: config.activation,
                },
                parallel_residual: config.parallel_residual,
            });
        }
        let embed_out = w.optional_vocab("embed_out.weight")?;
        Ok(GptNeoX {
            embed_in: w.vocab("embed_in.weight")?,
            layers,
            final_layer_norm: w.norm("final_layer_norm", eps)?,
            embed_out: if config.tied_head { None } else { embed_out },
            rotary: (config.rotary_dims > 0).then(|| Rotary::new(config.rotary_dims, config.rotary_base, s.n_positions, device)),
            n_positions: s.n_positions,
        })
    }
}

impl Decoder for GptNeoX {
    fn positions(&self, index: Tensor<2, Int>) -> Positions {
        let rotary = self.rotary.as_ref().map(|r| r.at(&index));
        Positions { index, rotary }
    }

    /// Token embeddings alone: positions enter through the rotary queries and keys.
    fn embed(&self, ids: Tensor<2, Int>, _: &Positions) -> Tensor<3> {
        self.embed_in.embed(ids)
    }

    fn depth(&self) -> usize {
        self.layers.len()
    }

    fn layer(&self, i: usize, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>, at: &Positions) -> (Tensor<3>, KeyValues) {
        self.layers[i].forward(x, past, mask, at)
    }

    fn key_values(&self, i: usize, x: Tensor<3>, at: &Positions) -> KeyValues {
        let layer = &self.layers[i];
        layer.attention.heads(layer.input_layernorm.forward(x), at).1
    }

    fn finish(&self, x: Tensor<3>) -> Tensor<3> {
        self.final_layer_norm.forward(x)
    }

    fn n_positions(&self) -> usize {
        self.n_positions
    }

    fn head(&self) -> &VocabMatrix {
        self.embed_out.as_ref().unwrap_or(&self.embed_in)
    }
}
