//! `GptNeoXConfig`: the fields of a GPT-NeoX `config.json` (Pythia) that shape the network.

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::model::config::{read_fields, yes, ConfigError, Heads, Inner, Layers, Positions, Positive, Sizes, Vocab, Width};
use crate::model::layout::{Expected, Layout};
use crate::model::nn::Activation;

/// GPT-NeoX hyper-parameters, named as in the Hub's `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct GptNeoXConfig {
    /// `num_hidden_layers`, `num_attention_heads`, `hidden_size`, `max_position_embeddings`,
    /// `vocab_size` (padded past the tokenizer's), `intermediate_size`.
    pub sizes: Sizes,
    pub layer_norm_eps: f64,
    /// `hidden_act`: `gelu` (exact) in every Pythia.
    pub activation: Activation,
    /// Leading dimensions of each head that rotary embeddings rotate: `int(head dim · rotary_pct)`.
    pub rotary_dims: usize,
    /// `rotary_emb_base` (`rope_theta` in newer configs).
    pub rotary_base: f64,
    /// `use_parallel_residual`: `x + attn(ln1(x)) + mlp(ln2(x))`, else one after the other.
    pub parallel_residual: bool,
    /// `attention_bias`: the attention projections have biases.
    pub attention_bias: bool,
    /// `tie_word_embeddings`: the LM head is `embed_in` (Pythia: false, `embed_out`).
    pub tied_head: bool,
}

/// The fields of a GPT-NeoX `config.json` that shape the network, as the Hub names them
/// (and the newer names transformers also reads).
#[derive(Deserialize)]
struct Fields {
    num_hidden_layers: Layers,
    num_attention_heads: Heads,
    hidden_size: Width,
    #[serde(default = "defaults::max_position_embeddings")]
    max_position_embeddings: Positions,
    vocab_size: Vocab,
    /// Absent: `4 * hidden_size`.
    intermediate_size: Option<Inner>,
    #[serde(default = "defaults::layer_norm_eps")]
    layer_norm_eps: f64,
    #[serde(default = "defaults::hidden_act")]
    hidden_act: Activation,
    #[serde(alias = "partial_rotary_factor", default = "defaults::rotary_pct")]
    rotary_pct: f64,
    #[serde(alias = "rope_theta", default = "defaults::rotary_emb_base")]
    rotary_emb_base: f64,
    rope_scaling: Option<IgnoredAny>,
    #[serde(default = "yes")]
    use_parallel_residual: bool,
    #[serde(default = "yes")]
    attention_bias: bool,
    #[serde(default)]
    tie_word_embeddings: bool,
}

/// The values `config.json` may leave out: transformers' `GPTNeoXConfig`'s.
mod defaults {
    use super::{Activation, Positions, Positive};
    pub fn max_position_embeddings() -> Positions {
        Positive(2048)
    }
    pub fn layer_norm_eps() -> f64 {
        1e-5
    }
    pub fn hidden_act() -> Activation {
        Activation::Gelu
    }
    pub fn rotary_pct() -> f64 {
        0.25
    }
    pub fn rotary_emb_base() -> f64 {
        10_000.0
    }
}

impl GptNeoXConfig {
    pub(in crate::model) fn from_json(json: &serde_json::Value) -> Result<Self, ConfigError> {
        let f: Fields = read_fields(json)?;
        let sizes = Sizes {
            n_layer: f.num_hidden_layers.0,
            n_head: f.num_attention_heads.0,
            n_embd: f.hidden_size.0,
            n_positions: f.max_position_embeddings.0,
            vocab_size: f.vocab_size.0,
            inner_dim: f.intermediate_size.map_or(4 * f.hidden_size.0, |n| n.0),
        }
        .checked()?;
        if f.rope_scaling.is_some() {
            return Err(ConfigError::Invalid("`rope_scaling` is set; only plain rotary embeddings are supported".into()));
        }
        let rotary_pct = f.rotary_pct;
        if !(0.0..=1.0).contains(&rotary_pct) {
            return Err(ConfigError::Invalid(format!("`rotary_pct` must be between 0 and 1, found {rotary_pct}")));
        }
        // Python's int(): towards zero.
        let rotary_dims = (sizes.head_dim() as f64 * rotary_pct) as usize;
        if rotary_dims % 2 == 1 {
            return Err(ConfigError::Invalid(format!("rotary embeddings need an even number of dimensions, found {rotary_dims}")));
        }
        Ok(GptNeoXConfig {
            sizes,
            layer_norm_eps: f.layer_norm_eps,
            activation: f.hidden_act,
            rotary_dims,
            rotary_base: f.rotary_emb_base,
            parallel_residual: f.use_parallel_residual,
            attention_bias: f.attention_bias,
            tied_head: f.tie_word_embeddings,
        })
    }

    /// The checkpoint's tensors, keys without the `gpt_neox.` prefix. Every projection is an
    /// `nn.Linear`, stored `[out, in]`. `query_key_value`'s rows are per head: each head's
    /// query, key and value rows side by side.
    ///
    /// | key                                                  | shape              |
    /// |------------------------------------------------------|--------------------|
    /// | `embed_in.weight`                                    | `[vocab, C]`       |
    /// | `layers.{i}.input_layernorm.{weight,bias}`           | `[C]`              |
    /// | `layers.{i}.attention.query_key_value.{weight,bias}` | `[3C, C]`,`[3C]`   |
    /// | `layers.{i}.attention.dense.{weight,bias}`           | `[C, C]`,`[C]`     |
    /// | `layers.{i}.post_attention_layernorm.{weight,bias}`  | `[C]`              |
    /// | `layers.{i}.mlp.dense_h_to_4h.{weight,bias}`         | `[F, C]`,`[F]`     |
    /// | `layers.{i}.mlp.dense_4h_to_h.{weight,bias}`         | `[C, F]`,`[C]`     |
    /// | `final_layer_norm.{weight,bias}`                     | `[C]`              |
    /// | `embed_out.weight` or `lm_head.weight` (not when tied) | `[vocab, C]`     |
    pub(crate) fn tensors(&self) -> Vec<Expected> {
        let s = &self.sizes;
        let (c, f) = (s.n_embd, s.inner_dim);
        let mut out = vec![Expected::vocab("embed_in.weight", s.vocab_size, c)];
        let attention = |name: &str, d_in, d_out| {
            let mut dense = Expected::dense(name, d_in, d_out, Layout::OutIn);
            if !self.attention_bias {
                dense.truncate(1);
            }
            dense
        };
        for i in 0..s.n_layer {
            let p = format!("layers.{i}.");
            out.extend(Expected::norm(&format!("{p}input_layernorm"), c));
            out.extend(attention(&format!("{p}attention.query_key_value"), c, 3 * c));
            out.extend(attention(&format!("{p}attention.dense"), c, c));
            out.extend(Expected::norm(&format!("{p}post_attention_layernorm"), c));
            out.extend(Expected::dense(&format!("{p}mlp.dense_h_to_4h"), c, f, Layout::OutIn));
            out.extend(Expected::dense(&format!("{p}mlp.dense_4h_to_h"), f, c, Layout::OutIn));
        }
        out.extend(Expected::norm("final_layer_norm", c));
        // transformers 5 holds the head as `lm_head` in memory, so a state dict saved from it says so.
        let head = Expected::vocab("embed_out.weight", s.vocab_size, c).also_named("lm_head.weight");
        out.push(if self.tied_head { head.optional() } else { head });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    /// Pythia-160m's `config.json` as published.
    const PYTHIA_160M: &str = r#"{"architectures":["GPTNeoXForCausalLM"],"bos_token_id":0,"eos_token_id":0,
        "hidden_act":"gelu","hidden_size":768,"initializer_range":0.02,"intermediate_size":3072,
        "layer_norm_eps":1e-05,"max_position_embeddings":2048,"model_type":"gpt_neox","num_attention_heads":12,
        "num_hidden_layers":12,"rotary_emb_base":10000,"rotary_pct":0.25,"tie_word_embeddings":false,
        "torch_dtype":"float16","transformers_version":"4.24.0","use_cache":true,"use_parallel_residual":true,
        "vocab_size":50304}"#;

    #[test]
    fn pythia_160m_counts_its_parameters() {
        let config = ModelConfig::from_json(PYTHIA_160M.as_bytes()).unwrap();
        assert_eq!(config.parameter_count(), 162_322_944);
        let ModelConfig::GptNeoX(c) = config else { panic!("not GPT-NeoX") };
        assert_eq!((c.rotary_dims, c.sizes.n_positions, c.activation), (16, 2048, Activation::Gelu));
        assert!(c.parallel_residual && !c.tied_head);
    }

    #[test]
    fn bad_neox_configs_say_which_field() {
        let e =
            ModelConfig::from_json(br#"{"model_type":"gpt_neox","hidden_size":8,"num_attention_heads":2,"vocab_size":10}"#).unwrap_err();
        assert_eq!(e.to_string(), "config.json: missing field `num_hidden_layers`");
        let json = PYTHIA_160M.replace(r#""rotary_pct":0.25"#, r#""rotary_pct":0.3"#);
        let e = ModelConfig::from_json(json.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("even number of dimensions, found 19"), "{e}");
        let json = PYTHIA_160M.replace(r#""use_cache":true"#, r#""rope_scaling":{"type":"linear","factor":2}"#);
        assert!(ModelConfig::from_json(json.as_bytes()).unwrap_err().to_string().contains("rope_scaling"));
    }
}
