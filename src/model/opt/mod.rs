//! OPT (Zhang et al. 2022, "OPT: Open Pre-trained Transformer Language Models") in Burn.
//!
//! GPT-2's shape with its own choices: learned positions read from row `position + 2`, ReLU,
//! separate query, key, value and output projections (queries scaled before the product, as
//! transformers does), and either pre-LN blocks with a final LayerNorm or (opt-350m) post-LN
//! blocks without one, between `project_in`/`project_out` that map a narrower embedding to the
//! model's width. The head is tied to the embedding. Field names follow the checkpoint's keys.

pub(crate) mod config;

use burn::nn::Embedding;
use burn::tensor::{Bool, Int, Tensor};

use crate::checkpoint::WeightsError;
use crate::model::decoder::{Decoder, Positions};
use crate::model::layout::Weights;
use crate::model::nn::{dense, self_attention, Activation, Dense, KeyValues, LayerNorm, Past, SeparateQkv};
use crate::model::VocabMatrix;
use config::OptConfig;
use config::POSITION_OFFSET;

/// Multi-head causal self-attention, its queries scaled before the product.
fn attention(a: &SeparateQkv, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>) -> (Tensor<3>, KeyValues) {
    let hs = x.dims()[2] / a.n_head;
    let q = a.queries(x.clone(), Some((hs as f64).powf(-0.5)));
    let own = a.key_values(x);
    (a.output(self_attention(q, &own, past, mask, 1.0)), own)
}

/// One decoder layer.
#[derive(Debug)]
pub struct Layer {
    pub self_attn: SeparateQkv,
    pub self_attn_layer_norm: LayerNorm,
    pub fc1: Dense,
    pub fc2: Dense,
    pub final_layer_norm: LayerNorm,
    pub activation: Activation,
    /// Pre-LN (`x + f(ln(x))`); else post-LN (`ln(x + f(x))`).
    pub layer_norm_before: bool,
}

impl Layer {
    fn mlp(&self, x: Tensor<3>) -> Tensor<3> {
        dense(&self.fc2, self.activation.forward(dense(&self.fc1, x)))
    }

    fn forward(&self, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>) -> (Tensor<3>, KeyValues) {
        if self.layer_norm_before {
            let (a, own) = attention(&self.self_attn, self.self_attn_layer_norm.forward(x.clone()), past, mask);
            let x = x + a;
            (x.clone() + self.mlp(self.final_layer_norm.forward(x)), own)
        } else {
            let (a, own) = attention(&self.self_attn, x.clone(), past, mask);
            let x = self.self_attn_layer_norm.forward(x + a);
            (self.final_layer_norm.forward(x.clone() + self.mlp(x)), own)
        }
    }

    fn key_values(&self, x: Tensor<3>) -> KeyValues {
        let x = if self.layer_norm_before { self.self_attn_layer_norm.forward(x) } else { x };
        self.self_attn.key_values(x)
    }
}

/// The OPT language model.
#[derive(Debug)]
pub struct Opt {
    /// Token embedding `[vocab_size, E]`, also the LM head unless `lm_head` is set.
    pub embed_tokens: VocabMatrix,
    /// `[n_positions + 2, C]`; position p reads row p + 2.
    pub embed_positions: Embedding,
    /// `E → C` and `C → E` where the embedding is narrower than the model.
    pub project_in: Option<Dense>,
    pub project_out: Option<Dense>,
    pub layers: Vec<Layer>,
    /// Pre-LN models only.
    pub final_layer_norm: Option<LayerNorm>,
    pub lm_head: Option<VocabMatrix>,
}

impl Opt {
    /// The network from its checkpoint's tensors (keys as in [`OptConfig::tensors`]).
    pub(crate) fn from_weights(config: &OptConfig, w: &mut Weights) -> Result<Self, WeightsError> {
        let s = &config.sizes;
        const EPS: f64 = 1e-5; // nn.LayerNorm's default, which OPT keeps
        let projected = config.word_embed_proj_dim != s.n_embd;
        let mut layers = Vec::with_capacity(s.n_layer);
        for i in 0..s.n_layer {
            let p = format!("decoder.layers.{i}.");
            layers.push(Layer {
                self_attn: SeparateQkv::from_weights(w, &format!("{p}self_attn"), s.n_head)?,
                self_attn_layer_norm: w.norm(&format!("{p}self_attn_layer_norm"), EPS)?,
                fc1: w.linear(&format!("{p}fc1"))?,
                fc2: w.linear(&format!("{p}fc2"))?,
                final_layer_norm: w.norm(&format!("{p}final_layer_norm"), EPS)?,
                activation: config.activation,
                layer_norm_before: config.layer_norm_before,
            });
        }
        Ok(Opt {
            embed_tokens: w.vocab("decoder.embed_tokens.weight")?,
            embed_positions: Embedding { weight: w.matrix("decoder.embed_positions.weight")? },
            project_in: if projected { Some(w.linear("decoder.project_in")?) } else { None },
            project_out: if projected { Some(w.linear("decoder.project_out")?) } else { None },
            layers,
            final_layer_norm: if config.layer_norm_before { Some(w.norm("decoder.final_layer_norm", EPS)?) } else { None },
            lm_head: w.optional_vocab("lm_head.weight")?,
        })
    }
}

impl Decoder for Opt {
    fn positions(&self, index: Tensor<2, Int>) -> Positions {
        Positions { index, rotary: None }
    }

    fn embed(&self, ids: Tensor<2, Int>, at: &Positions) -> Tensor<3> {
        let tokens = self.embed_tokens.embed(ids);
        let tokens = match &self.project_in {
            Some(project) => dense(project, tokens),
            None => tokens,
        };
        tokens + self.embed_positions.forward(at.index.clone() + POSITION_OFFSET as i64)
    }

    fn depth(&self) -> usize {
        self.layers.len()
    }

    fn layer(&self, i: usize, x: Tensor<3>, past: Past<'_>, mask: Tensor<4, Bool>, _: &Positions) -> (Tensor<3>, KeyValues) {
        self.layers[i].forward(x, past, mask)
    }

    fn key_values(&self, i: usize, x: Tensor<3>, _: &Positions) -> KeyValues {
        self.layers[i].key_values(x)
    }

    fn finish(&self, x: Tensor<3>) -> Tensor<3> {
        let x = match &self.final_layer_norm {
            Some(norm) => norm.forward(x),
            None => x,
        };
        match &self.project_out {
            Some(project) => dense(project, x),
            None => x,
        }
    }

    fn n_positions(&self) -> usize {
        self.embed_positions.weight.dims()[0] - POSITION_OFFSET
    }

    fn head(&self) -> &VocabMatrix {
        self.lm_head.as_ref().unwrap_or(&self.embed_tokens)
    }
}
