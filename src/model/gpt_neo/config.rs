//! `GptNeoConfig`: the fields of a GPT-Neo `config.json` that shape the network.

use serde::Deserialize;

use crate::model::config::{read_fields, ConfigError, Heads, Inner, Layers, Positions, Positive, Sizes, Vocab, Width};
use crate::model::layout::{Expected, Layout};
use crate::model::nn::Activation;

/// GPT-Neo hyper-parameters, named as in the Hub's `config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct GptNeoConfig {
    /// `num_layers`, `num_heads`, `hidden_size`, `max_position_embeddings`, `vocab_size`,
    /// `intermediate_size` (absent: `4 * hidden_size`).
    pub sizes: Sizes,
    pub layer_norm_epsilon: f64,
    pub activation: Activation,
    /// Per layer, whether its attention is local: it sees only the `window_size` latest
    /// positions (`attention_types`, e.g. `[[["global", "local"], 12]]`).
    pub local: Vec<bool>,
    pub window_size: usize,
}

/// The fields of a GPT-Neo `config.json` that shape the network, as the Hub names them.
#[derive(Deserialize)]
struct Fields {
    num_layers: Layers,
    num_heads: Heads,
    hidden_size: Width,
    #[serde(default = "defaults::max_position_embeddings")]
    max_position_embeddings: Positions,
    #[serde(default = "defaults::vocab_size")]
    vocab_size: Vocab,
    /// Absent: `4 * hidden_size`.
    intermediate_size: Option<Inner>,
    #[serde(default = "defaults::layer_norm_epsilon")]
    layer_norm_epsilon: f64,
    #[serde(default = "defaults::activation_function")]
    activation_function: Activation,
    attention_types: serde_json::Value,
    #[serde(default = "defaults::window_size")]
    window_size: Positions,
}

/// The values `config.json` may leave out: transformers' `GPTNeoConfig`'s.
mod defaults {
    use super::{Activation, Positions, Positive, Vocab};
    pub fn max_position_embeddings() -> Positions {
        Positive(2048)
    }
    pub fn vocab_size() -> Vocab {
        Positive(50257)
    }
    pub fn layer_norm_epsilon() -> f64 {
        1e-5
    }
    pub fn activation_function() -> Activation {
        Activation::GeluTanh
    }
    pub fn window_size() -> Positions {
        Positive(256)
    }
}

impl GptNeoConfig {
    pub(in crate::model) fn from_json(json: &serde_json::Value) -> Result<Self, ConfigError> {
        let f: Fields = read_fields(json)?;
        let sizes = Sizes {
            n_layer: f.num_layers.0,
            n_head: f.num_heads.0,
            n_embd: f.hidden_size.0,
            n_positions: f.max_position_embeddings.0,
            vocab_size: f.vocab_size.0,
            inner_dim: f.intermediate_size.map_or(4 * f.hidden_size.0, |n| n.0),
        }
        .checked()?;
        let local = attention_layers(&f.attention_types)?;
        if local.len() != sizes.n_layer {
            return Err(ConfigError::Invalid(format!(
                "`attention_types` gives {} layers but `num_layers` is {}",
                local.len(),
                sizes.n_layer
            )));
        }
        Ok(GptNeoConfig {
            sizes,
            layer_norm_epsilon: f.layer_norm_epsilon,
            activation: f.activation_function,
            local,
            window_size: f.window_size.0,
        })
    }

    /// The checkpoint's tensors, keys without the `transformer.` prefix. Projections are
    /// `nn.Linear`, stored `[out, in]`; queries, keys and values have no bias.
    ///
    /// | key                                                    | shape            |
    /// |--------------------------------------------------------|------------------|
    /// | `wte.weight`, `wpe.weight`                             | `[vocab, C]`, `[n_pos, C]` |
    /// | `h.{i}.ln_1.{weight,bias}`, `h.{i}.ln_2.{weight,bias}` | `[C]`            |
    /// | `h.{i}.attn.attention.{q,k,v}_proj.weight`             | `[C, C]`         |
    /// | `h.{i}.attn.attention.out_proj.{weight,bias}`          | `[C, C]`,`[C]`   |
    /// | `h.{i}.mlp.c_fc.{weight,bias}`                         | `[F, C]`,`[F]`   |
    /// | `h.{i}.mlp.c_proj.{weight,bias}`                       | `[C, F]`,`[C]`   |
    /// | `ln_f.{weight,bias}`; `lm_head.weight` (optional: tied) | `[C]`; `[vocab, C]` |
    pub(crate) fn tensors(&self) -> Vec<Expected> {
        let s = &self.sizes;
        let (c, f) = (s.n_embd, s.inner_dim);
        let mut out = vec![Expected::vocab("wte.weight", s.vocab_size, c), Expected::table("wpe.weight", [s.n_positions, c])];
        for i in 0..s.n_layer {
            let p = format!("h.{i}.");
            out.extend(Expected::norm(&format!("{p}ln_1"), c));
            for projection in ["q_proj", "k_proj", "v_proj"] {
                out.push(Expected::dense(&format!("{p}attn.attention.{projection}"), c, c, Layout::OutIn).swap_remove(0));
            }
            out.extend(Expected::dense(&format!("{p}attn.attention.out_proj"), c, c, Layout::OutIn));
            out.extend(Expected::norm(&format!("{p}ln_2"), c));
            out.extend(Expected::dense(&format!("{p}mlp.c_fc"), c, f, Layout::OutIn));
            out.extend(Expected::dense(&format!("{p}mlp.c_proj"), f, c, Layout::OutIn));
        }
        out.extend(Expected::norm("ln_f", c));
        out.push(Expected::vocab("lm_head.weight", s.vocab_size, c).optional());
        out
    }
}

/// `[[["global", "local"], 12]]` → per layer, whether it is local.
fn attention_layers(types: &serde_json::Value) -> Result<Vec<bool>, ConfigError> {
    let bad = || ConfigError::Invalid("`attention_types` must be a list of [[\"global\" | \"local\", …], repeats]".into());
    let mut layers = Vec::new();
    for item in types.as_array().ok_or_else(bad)? {
        let (kinds, repeats) = match item.as_array().map(Vec::as_slice) {
            Some([kinds, repeats]) => (kinds.as_array().ok_or_else(bad)?, repeats.as_u64().ok_or_else(bad)?),
            _ => return Err(bad()),
        };
        for _ in 0..repeats.min(10_000) {
            for kind in kinds {
                layers.push(match kind.as_str() {
                    Some("global") => false,
                    Some("local") => true,
                    _ => return Err(bad()),
                });
            }
        }
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use crate::model::ModelConfig;

    /// EleutherAI/gpt-neo-125M's `config.json`, the fields that matter.
    const GPT_NEO_125M: &str = r#"{"model_type":"gpt_neo","hidden_size":768,"num_layers":12,"num_heads":12,
        "attention_types":[[["global","local"],6]],"window_size":256,"max_position_embeddings":2048,
        "vocab_size":50257,"activation_function":"gelu_new","intermediate_size":null}"#;

    #[test]
    fn gpt_neo_125m_counts_its_parameters_and_alternates_attention() {
        let config = ModelConfig::from_json(GPT_NEO_125M.as_bytes()).unwrap();
        assert_eq!(config.parameter_count(), 125_198_592);
        let ModelConfig::GptNeo(c) = config else { panic!("not GPT-Neo") };
        assert_eq!(&c.local[..4], [false, true, false, true]);
        let e = ModelConfig::from_json(GPT_NEO_125M.replace("6]]", "5]]").as_bytes()).unwrap_err();
        assert!(e.to_string().contains("gives 10 layers but `num_layers` is 12"), "{e}");
    }
}
