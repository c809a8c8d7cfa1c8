//! `OptConfig`: the fields of an OPT `config.json` that shape the network.

use serde::Deserialize;

use crate::model::config::{read_fields, yes, ConfigError, Heads, Inner, Layers, Positions, Positive, Sizes, Vocab, Width};
use crate::model::layout::{Expected, Layout};
use crate::model::nn::Activation;

/// OPT's learned positions start at this row: rows 0 and 1 are never read.
pub const POSITION_OFFSET: usize = 2;

/// OPT hyper-parameters, named as in the Hub's `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct OptConfig {
    /// `num_hidden_layers`, `num_attention_heads`, `hidden_size`, `max_position_embeddings`,
    /// `vocab_size` (padded past the tokenizer's), `ffn_dim`.
    pub sizes: Sizes,
    /// `word_embed_proj_dim`: the embedding's width; where it differs from `hidden_size`
    /// (opt-350m) `project_in` and `project_out` map between the two.
    pub word_embed_proj_dim: usize,
    /// `do_layer_norm_before`: pre-LN blocks and a final LayerNorm (all but opt-350m); else
    /// post-LN blocks and none.
    pub layer_norm_before: bool,
    /// `activation_function`: `relu` in every OPT.
    pub activation: Activation,
    /// `enable_bias`: the projections have biases.
    pub bias: bool,
}

/// The fields of an OPT `config.json` that shape the network, as the Hub names them.
#[derive(Deserialize)]
struct Fields {
    num_hidden_layers: Layers,
    num_attention_heads: Heads,
    hidden_size: Width,
    #[serde(default = "defaults::max_position_embeddings")]
    max_position_embeddings: Positions,
    #[serde(default = "defaults::vocab_size")]
    vocab_size: Vocab,
    /// Absent: `4 * hidden_size`.
    ffn_dim: Option<Inner>,
    /// Absent: `hidden_size`.
    word_embed_proj_dim: Option<Width>,
    #[serde(default = "defaults::activation_function")]
    activation_function: Activation,
    #[serde(default = "yes")]
    layer_norm_elementwise_affine: bool,
    #[serde(default = "yes")]
    do_layer_norm_before: bool,
    #[serde(default)]
    _remove_final_layer_norm: bool,
    #[serde(default = "yes")]
    enable_bias: bool,
}

/// The values `config.json` may leave out: transformers' `OPTConfig`'s.
mod defaults {
    use super::{Activation, Positions, Positive, Vocab};
    pub fn max_position_embeddings() -> Positions {
        Positive(2048)
    }
    pub fn vocab_size() -> Vocab {
        Positive(50272)
    }
    pub fn activation_function() -> Activation {
        Activation::Relu
    }
}

impl OptConfig {
    pub(in crate::model) fn from_json(json: &serde_json::Value) -> Result<Self, ConfigError> {
        let f: Fields = read_fields(json)?;
        let n_embd = f.hidden_size.0;
        let sizes = Sizes {
            n_layer: f.num_hidden_layers.0,
            n_head: f.num_attention_heads.0,
            n_embd,
            n_positions: f.max_position_embeddings.0,
            vocab_size: f.vocab_size.0,
            inner_dim: f.ffn_dim.map_or(4 * n_embd, |n| n.0),
        }
        .checked()?;
        if !f.layer_norm_elementwise_affine {
            return Err(ConfigError::Invalid(
                "`layer_norm_elementwise_affine` is false; only LayerNorms with weights are supported".into(),
            ));
        }
        let layer_norm_before = f.do_layer_norm_before;
        if layer_norm_before && f._remove_final_layer_norm {
            return Err(ConfigError::Invalid("`_remove_final_layer_norm` is set; this old OPT layout is not supported".into()));
        }
        Ok(OptConfig {
            sizes,
            word_embed_proj_dim: f.word_embed_proj_dim.map_or(n_embd, |n| n.0),
            layer_norm_before,
            activation: f.activation_function,
            bias: f.enable_bias,
        })
    }

    fn projected(&self) -> bool {
        self.word_embed_proj_dim != self.sizes.n_embd
    }

    /// The checkpoint's tensors, keys without the `model.` prefix (E: `word_embed_proj_dim`).
    /// Every projection is an `nn.Linear`, stored `[out, in]`.
    ///
    /// | key                                                      | shape                  |
    /// |----------------------------------------------------------|------------------------|
    /// | `decoder.embed_tokens.weight`                            | `[vocab, E]`           |
    /// | `decoder.embed_positions.weight`                         | `[n_pos + 2, C]`       |
    /// | `decoder.project_in.weight`, `project_out.weight` (E≠C)  | `[C, E]`, `[E, C]`     |
    /// | `decoder.layers.{i}.self_attn.{q,k,v,out}_proj.{weight,bias}` | `[C, C]`,`[C]`    |
    /// | `decoder.layers.{i}.self_attn_layer_norm.{weight,bias}`  | `[C]`                  |
    /// | `decoder.layers.{i}.fc1.{weight,bias}`                   | `[F, C]`,`[F]`         |
    /// | `decoder.layers.{i}.fc2.{weight,bias}`                   | `[C, F]`,`[C]`         |
    /// | `decoder.layers.{i}.final_layer_norm.{weight,bias}`      | `[C]`                  |
    /// | `decoder.final_layer_norm.{weight,bias}` (pre-LN)        | `[C]`                  |
    /// | `lm_head.weight` (optional: tied)                        | `[vocab, E]`           |
    pub(crate) fn tensors(&self) -> Vec<Expected> {
        let s = &self.sizes;
        let (c, f, e) = (s.n_embd, s.inner_dim, self.word_embed_proj_dim);
        let dense = |name: &str, d_in, d_out, bias: bool| {
            let mut dense = Expected::dense(name, d_in, d_out, Layout::OutIn);
            if !bias {
                dense.truncate(1);
            }
            dense
        };
        let mut out = vec![
            Expected::vocab("decoder.embed_tokens.weight", s.vocab_size, e),
            Expected::table("decoder.embed_positions.weight", [s.n_positions + POSITION_OFFSET, c]),
        ];
        if self.projected() {
            out.extend(dense("decoder.project_in", e, c, false));
            out.extend(dense("decoder.project_out", c, e, false));
        }
        for i in 0..s.n_layer {
            let p = format!("decoder.layers.{i}.");
            for projection in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                out.extend(dense(&format!("{p}self_attn.{projection}"), c, c, self.bias));
            }
            out.extend(Expected::norm(&format!("{p}self_attn_layer_norm"), c));
            out.extend(dense(&format!("{p}fc1"), c, f, self.bias));
            out.extend(dense(&format!("{p}fc2"), f, c, self.bias));
            out.extend(Expected::norm(&format!("{p}final_layer_norm"), c));
        }
        if self.layer_norm_before {
            out.extend(Expected::norm("decoder.final_layer_norm", c));
        }
        out.push(Expected::vocab("lm_head.weight", s.vocab_size, e).optional());
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::model::ModelConfig;

    /// facebook/opt-125m's and opt-350m's `config.json`, the fields that matter.
    const OPT_125M: &str = r#"{"model_type":"opt","hidden_size":768,"num_hidden_layers":12,"num_attention_heads":12,
        "ffn_dim":3072,"max_position_embeddings":2048,"vocab_size":50272,"word_embed_proj_dim":768,
        "do_layer_norm_before":true,"activation_function":"relu","torch_dtype":"float16"}"#;
    const OPT_350M: &str = r#"{"model_type":"opt","hidden_size":1024,"num_hidden_layers":24,"num_attention_heads":16,
        "ffn_dim":4096,"max_position_embeddings":2048,"vocab_size":50272,"word_embed_proj_dim":512,
        "do_layer_norm_before":false,"activation_function":"relu","torch_dtype":"float16"}"#;

    #[test]
    fn opt_parameter_counts_are_the_hubs() {
        assert_eq!(ModelConfig::from_json(OPT_125M.as_bytes()).unwrap().parameter_count(), 125_239_296);
        assert_eq!(ModelConfig::from_json(OPT_350M.as_bytes()).unwrap().parameter_count(), 331_196_416);
    }
}
