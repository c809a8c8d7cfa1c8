//! GPT-2 (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners") in Burn.
//!
//! Reads top to bottom, smallest part first. Field names follow the Hub checkpoint's keys
//! (`h.{i}.attn.c_attn.weight`, …). GPT-2's Conv1D stores weights as `[in, out]`, which is
//! exactly [`Dense`]'s layout.

pub(crate) mod config;

use burn::nn::Embedding;
use burn::tensor::{Bool, Int, Tensor};

use crate::checkpoint::WeightsError;
use crate::model::decoder::{Decoder, Positions};
use crate::model::layout::Weights;
use crate::model::nn::{dense, self_attention, split_heads, Activation, Dense, KeyValues, LayerNorm, Past};
use crate::model::VocabMatrix;
use config::Gpt2Config;

/// Multi-head causal self-attention.
#[derive(Debug)]
pub struct Attention {
    /// Query, key and value projections side by side: `[n_embd, 3 * n_embd]`.
    pub c_attn: Dense,
    pub c_proj: Dense,
    pub n_head: usize,
    /// What the scores are divided by: √(head dim), times the layer's number where the config
    /// scales by it.
    pub scale: f64,
}

impl Attention {
    /// `x`: `[b, t, C]` → `[b, t, C]`, and the keys and values of `x`'s positions (see
    /// [`Decoder::layer`]).
    pub fn forward(&self, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>) -> (Tensor<3>, KeyValues) {
        let (q, own) = self.heads(x);
        (dense(&self.c_proj, self_attention(q, &own, past, mask, self.scale)), own)
    }

    /// Queries, and keys and values, per head: `[b, t, C]` → `[b, nh, t, hs]` each.
    fn heads(&self, x: Tensor<3>) -> (Tensor<4>, KeyValues) {
        let mut parts = dense(&self.c_attn, x).chunk(3, 2).into_iter().map(|p| split_heads(p, self.n_head));
        let (q, k, v) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        (q, KeyValues { k, v })
    }
}

/// The position-wise feed-forward network.
#[derive(Debug)]
pub struct Mlp {
    pub c_fc: Dense,
    pub c_proj: Dense,
    pub activation: Activation,
}

impl Mlp {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        dense(&self.c_proj, self.activation.forward(dense(&self.c_fc, x)))
    }
}

/// One pre-norm transformer block.
#[derive(Debug)]
pub struct Block {
    pub ln_1: LayerNorm,
    pub attn: Attention,
    pub ln_2: LayerNorm,
    pub mlp: Mlp,
}

impl Block {
    pub fn forward(&self, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>) -> (Tensor<3>, KeyValues) {
        let (a, own) = self.attn.forward(self.ln_1.forward(x.clone()), past, mask);
        let x = x + a;
        (x.clone() + self.mlp.forward(self.ln_2.forward(x)), own)
    }
}

/// The GPT-2 language model.
#[derive(Debug)]
pub struct Gpt2 {
    /// Token embedding `[vocab_size, n_embd]`, also the LM head (tied) unless `lm_head` is set.
    pub wte: VocabMatrix,
    /// Position embedding `[n_positions, n_embd]`.
    pub wpe: Embedding,
    pub h: Vec<Block>,
    pub ln_f: LayerNorm,
    /// An untied LM head `[vocab_size, n_embd]`, when the checkpoint carries one.
    pub lm_head: Option<VocabMatrix>,
}

impl Gpt2 {
    /// The network from its checkpoint's tensors (keys as in [`Gpt2Config::tensors`]).
    pub(crate) fn from_weights(config: &Gpt2Config, w: &mut Weights) -> Result<Self, WeightsError> {
        let (s, eps) = (&config.sizes, config.layer_norm_epsilon);
        let mut h = Vec::with_capacity(s.n_layer);
        for i in 0..s.n_layer {
            let p = format!("h.{i}.");
            let mut scale = if config.scale_attn_weights { (s.head_dim() as f64).sqrt() } else { 1.0 };
            if config.scale_attn_by_inverse_layer_idx {
                scale *= (i + 1) as f64;
            }
            h.push(Block {
                ln_1: w.norm(&format!("{p}ln_1"), eps)?,
                attn: Attention {
                    c_attn: w.linear(&format!("{p}attn.c_attn"))?,
                    c_proj: w.linear(&format!("{p}attn.c_proj"))?,
                    n_head: s.n_head,
                    scale,
                },
                ln_2: w.norm(&format!("{p}ln_2"), eps)?,
                mlp: Mlp {
                    c_fc: w.linear(&format!("{p}mlp.c_fc"))?,
                    c_proj: w.linear(&format!("{p}mlp.c_proj"))?,
                    activation: config.activation,
                },
            });
        }
        Ok(Gpt2 {
            wte: w.vocab("wte.weight")?,
            wpe: Embedding { weight: w.matrix("wpe.weight")? },
            h,
            ln_f: w.norm("ln_f", eps)?,
            lm_head: w.optional_vocab("lm_head.weight")?,
        })
    }
}

impl Decoder for Gpt2 {
    fn positions(&self, index: Tensor<2, Int>) -> Positions {
        Positions { index, rotary: None }
    }

    /// Token and position embeddings.
    fn embed(&self, ids: Tensor<2, Int>, at: &Positions) -> Tensor<3> {
        self.wte.embed(ids) + self.wpe.forward(at.index.clone())
    }

    fn depth(&self) -> usize {
        self.h.len()
    }

    fn layer(&self, i: usize, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>, _: &Positions) -> (Tensor<3>, KeyValues) {
        self.h[i].forward(x, past, mask)
    }

    fn key_values(&self, i: usize, x: Tensor<3>, _: &Positions) -> KeyValues {
        let block = &self.h[i];
        block.attn.heads(block.ln_1.forward(x)).1
    }

    fn finish(&self, x: Tensor<3>) -> Tensor<3> {
        self.ln_f.forward(x)
    }

    fn n_positions(&self) -> usize {
        self.wpe.weight.dims()[0]
    }

    /// `lm_head`, or the embedding it is tied to.
    fn head(&self) -> &VocabMatrix {
        self.lm_head.as_ref().unwrap_or(&self.wte)
    }
}
