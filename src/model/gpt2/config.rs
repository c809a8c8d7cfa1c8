//! `Gpt2Config`: the fields of a Hugging Face GPT-2 `config.json` that shape the network.

use serde::Deserialize;

use crate::model::config::{read_fields, yes, ConfigError, Heads, Inner, Layers, Positions, Positive, Sizes, Vocab, Width};
use crate::model::layout::{Expected, Layout};
use crate::model::nn::Activation;

/// The values `config.json` may leave out: GPT-2's.
mod defaults {
    use super::{Activation, Positions, Positive, Vocab};
    pub const N_POSITIONS: usize = 1024;
    pub const VOCAB_SIZE: usize = 50257;
    pub const LAYER_NORM_EPSILON: f64 = 1e-5;
    pub fn n_positions() -> Positions {
        Positive(N_POSITIONS)
    }
    pub fn vocab_size() -> Vocab {
        Positive(VOCAB_SIZE)
    }
    pub fn layer_norm_epsilon() -> f64 {
        LAYER_NORM_EPSILON
    }
    pub fn activation() -> Activation {
        Activation::GeluTanh
    }
}

/// The fields of a GPT-2 `config.json` that shape the network, as the Hub names them.
#[derive(Deserialize)]
struct Fields {
    n_layer: Layers,
    n_head: Heads,
    n_embd: Width,
    #[serde(default = "defaults::n_positions")]
    n_positions: Positions,
    #[serde(default = "defaults::vocab_size")]
    vocab_size: Vocab,
    /// Absent: `4 * n_embd`.
    n_inner: Option<Inner>,
    #[serde(default = "defaults::layer_norm_epsilon")]
    layer_norm_epsilon: f64,
    #[serde(default = "defaults::activation")]
    activation_function: Activation,
    #[serde(default = "yes")]
    scale_attn_weights: bool,
    #[serde(default)]
    scale_attn_by_inverse_layer_idx: bool,
}

/// GPT-2 hyper-parameters, named as in the Hub's `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Gpt2Config {
    /// `n_layer`, `n_head`, `n_embd`, `n_positions`, `vocab_size`, `n_inner` (absent: `4 * n_embd`).
    pub sizes: Sizes,
    pub layer_norm_epsilon: f64,
    /// `activation_function`: `gelu_new` in every released GPT-2.
    pub activation: Activation,
    /// `scale_attn_weights`: scores divided by √(head dim).
    pub scale_attn_weights: bool,
    /// `scale_attn_by_inverse_layer_idx`: layer i's scores also divided by i + 1.
    pub scale_attn_by_inverse_layer_idx: bool,
}

impl Gpt2Config {
    /// GPT-2's defaults at these sizes.
    pub fn new(n_layer: usize, n_head: usize, n_embd: usize) -> Self {
        Gpt2Config {
            sizes: Sizes {
                n_layer,
                n_head,
                n_embd,
                n_positions: defaults::N_POSITIONS,
                vocab_size: defaults::VOCAB_SIZE,
                inner_dim: 4 * n_embd,
            },
            layer_norm_epsilon: defaults::LAYER_NORM_EPSILON,
            activation: Activation::GeluTanh,
            scale_attn_weights: true,
            scale_attn_by_inverse_layer_idx: false,
        }
    }

    /// Reads a GPT-2 `config.json`. `reorder_and_upcast_attn` changes only where transformers
    /// computes in half precision; here every score is float32 already.
    pub(in crate::model) fn from_json(json: &serde_json::Value) -> Result<Self, ConfigError> {
        let f: Fields = read_fields(json)?;
        Ok(Gpt2Config {
            sizes: Sizes {
                n_layer: f.n_layer.0,
                n_head: f.n_head.0,
                n_embd: f.n_embd.0,
                n_positions: f.n_positions.0,
                vocab_size: f.vocab_size.0,
                inner_dim: f.n_inner.map_or(4 * f.n_embd.0, |n| n.0),
            }
            .checked()?,
            layer_norm_epsilon: f.layer_norm_epsilon,
            activation: f.activation_function,
            scale_attn_weights: f.scale_attn_weights,
            scale_attn_by_inverse_layer_idx: f.scale_attn_by_inverse_layer_idx,
        })
    }

    /// The checkpoint's tensors, keys without the `transformer.` prefix:
    ///
    /// | key                                   | shape            |
    /// |---------------------------------------|------------------|
    /// | `wte.weight`                          | `[vocab, C]`     |
    /// | `wpe.weight`                          | `[n_pos, C]`     |
    /// | `h.{i}.ln_1.{weight,bias}`            | `[C]`            |
    /// | `h.{i}.attn.c_attn.{weight,bias}`     | `[C, 3C]`,`[3C]` |
    /// | `h.{i}.attn.c_proj.{weight,bias}`     | `[C, C]`,`[C]`   |
    /// | `h.{i}.ln_2.{weight,bias}`            | `[C]`            |
    /// | `h.{i}.mlp.c_fc.{weight,bias}`        | `[C, F]`,`[F]`   |
    /// | `h.{i}.mlp.c_proj.{weight,bias}`      | `[F, C]`,`[C]`   |
    /// | `ln_f.{weight,bias}`                  | `[C]`            |
    /// | `lm_head.weight` (optional: tied)     | `[vocab, C]`     |
    ///
    /// Conv1D weights are stored `[in, out]`, already Burn's layout: they are copied as they
    /// are. A square `c_proj` transposed by mistake would load without complaint and give wrong
    /// numbers, so nothing of GPT-2's is ever transposed.
    pub(crate) fn tensors(&self) -> Vec<Expected> {
        let s = &self.sizes;
        let (c, f) = (s.n_embd, s.inner_dim);
        let mut out = vec![Expected::vocab("wte.weight", s.vocab_size, c), Expected::table("wpe.weight", [s.n_positions, c])];
        for i in 0..s.n_layer {
            let p = format!("h.{i}.");
            out.extend(Expected::norm(&format!("{p}ln_1"), c));
            out.extend(Expected::dense(&format!("{p}attn.c_attn"), c, 3 * c, Layout::InOut));
            out.extend(Expected::dense(&format!("{p}attn.c_proj"), c, c, Layout::InOut));
            out.extend(Expected::norm(&format!("{p}ln_2"), c));
            out.extend(Expected::dense(&format!("{p}mlp.c_fc"), c, f, Layout::InOut));
            out.extend(Expected::dense(&format!("{p}mlp.c_proj"), f, c, Layout::InOut));
        }
        out.extend(Expected::norm("ln_f", c));
        out.push(Expected::vocab("lm_head.weight", s.vocab_size, c).optional());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    fn gpt2(json: &str) -> Result<Gpt2Config, ConfigError> {
        Gpt2Config::from_json(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn gpt2_small_counts_124m_parameters() {
        let c = ModelConfig::from_json(br#"{"n_layer":12,"n_head":12,"n_embd":768,"model_type":"gpt2"}"#).unwrap();
        assert_eq!(c.parameter_count(), 124_439_808);
        assert_eq!(c.sizes().head_dim(), 64);
    }

    #[test]
    fn bad_configs_say_which_field() {
        let e = gpt2(r#"{"n_layer":2,"n_head":3,"n_embd":8}"#).unwrap_err();
        assert!(e.to_string().contains("not a multiple of the head count"), "{e}");
        let e = gpt2(r#"{"n_layer":2,"n_embd":8}"#).unwrap_err();
        assert_eq!(e.to_string(), "config.json: missing field `n_head`");
        let e = gpt2(r#"{"n_layer":-1,"n_head":2,"n_embd":8}"#).unwrap_err();
        assert_eq!(e.to_string(), "config.json: `n_layer`: must be a positive whole number, found -1");
        let e = gpt2(r#"{"n_layer":2.5,"n_head":2,"n_embd":8}"#).unwrap_err();
        assert_eq!(e.to_string(), "config.json: `n_layer`: must be a positive whole number, found 2.5");
        let e = gpt2(r#"{"n_layer":"2","n_head":2,"n_embd":8}"#).unwrap_err();
        assert_eq!(e.to_string(), "config.json: `n_layer`: invalid type: string \"2\", expected a whole number from 1 to 1024");
        // Sizes no model reaches are refused before anything is planned or allocated for them.
        let e = gpt2(r#"{"n_layer":1000000000,"n_head":2,"n_embd":8}"#).unwrap_err();
        assert_eq!(e.to_string(), "config.json: `n_layer`: must be at most 1024 (no real model comes near), found 1000000000");
        let e = gpt2(r#"{"n_layer":1,"n_head":2,"n_embd":4611686018427387904}"#).unwrap_err();
        assert_eq!(e.to_string(), "config.json: `n_embd`: must be at most 65536 (no real model comes near), found 4611686018427387904");
        let e = gpt2(r#"{"n_layer":1,"n_head":2,"n_embd":8,"n_positions":1000000000}"#).unwrap_err();
        assert_eq!(e.to_string(), "config.json: `n_positions`: must be at most 2097152 (no real model comes near), found 1000000000");
        let e = gpt2(r#"{"n_layer":1,"n_head":2,"n_embd":8,"scale_attn_weights":"yes"}"#).unwrap_err();
        assert_eq!(e.to_string(), "config.json: `scale_attn_weights`: invalid type: string \"yes\", expected a boolean");
        let e = gpt2(r#"{"n_layer":1,"n_head":2,"n_embd":8,"activation_function":"mish"}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("config.json: `activation_function`: `mish` is not supported (supported: {})", Activation::NAMES)
        );
        // Null is absent, as transformers reads it.
        assert_eq!(gpt2(r#"{"n_layer":1,"n_head":2,"n_embd":8,"n_inner":null}"#).unwrap().sizes.inner_dim, 32);
        let e = ModelConfig::from_json(br#"{"model_type":"bloom"}"#).unwrap_err();
        assert_eq!(e.to_string(), "config.json: model_type is `bloom`; supported model types: gpt2, gpt_neo, gpt_neox, opt");
    }

    #[test]
    fn variants_are_read() {
        let c = gpt2(
            r#"{"n_layer":2,"n_head":2,"n_embd":8,"n_inner":24,"n_positions":256,"activation_function":"relu",
                "scale_attn_by_inverse_layer_idx":true,"reorder_and_upcast_attn":true}"#,
        )
        .unwrap();
        assert_eq!((c.sizes.inner_dim, c.sizes.n_positions, c.activation), (24, 256, Activation::Relu));
        assert!(c.scale_attn_by_inverse_layer_idx && c.scale_attn_weights);
    }
}
