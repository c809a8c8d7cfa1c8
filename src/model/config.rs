//! `Gpt2Config`: the fields of a Hugging Face GPT-2 `config.json` that shape the network.

use burn::config::Config;

/// The values `config.json` may leave out: GPT-2's. The module's config and the reader share them.
mod defaults {
    pub const N_POSITIONS: usize = 1024;
    pub const VOCAB_SIZE: usize = 50257;
    pub const LAYER_NORM_EPSILON: f64 = 1e-5;
}

/// GPT-2 hyper-parameters, named as in the Hub's `config.json`.
#[derive(Config, Debug, PartialEq)]
pub struct Gpt2Config {
    /// Number of transformer blocks (`num_hidden_layers`).
    pub n_layer: usize,
    /// Attention heads per block (`num_attention_heads`); divides `n_embd`.
    pub n_head: usize,
    /// Width of the residual stream (`hidden_size`).
    pub n_embd: usize,
    /// Longest sequence the position embedding covers (`max_position_embeddings`).
    #[config(default = "defaults::N_POSITIONS")]
    pub n_positions: usize,
    /// Token vocabulary size; 50257 for every released GPT-2.
    #[config(default = "defaults::VOCAB_SIZE")]
    pub vocab_size: usize,
    /// LayerNorm epsilon.
    #[config(default = "defaults::LAYER_NORM_EPSILON")]
    pub layer_norm_epsilon: f64,
    /// Width of the MLP's hidden layer; `None` means `4 * n_embd`.
    #[config(default = "None")]
    pub n_inner: Option<usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config.json is not valid JSON: {0}")]
    Json(String),
    #[error("config.json: {0}")]
    Invalid(String),
}

impl Gpt2Config {
    /// Reads a Hub `config.json`; fields it does not know are ignored.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        let field = |name: &str| value.get(name).filter(|v| !v.is_null());
        let size = |name: &str, default: Option<usize>| -> Result<usize, ConfigError> {
            match field(name) {
                Some(v) => v
                    .as_u64()
                    .filter(|&n| n > 0)
                    .map(|n| n as usize)
                    .ok_or_else(|| ConfigError::Invalid(format!("`{name}` must be a positive whole number, found {v}"))),
                None => default.ok_or_else(|| ConfigError::Invalid(format!("missing field `{name}`"))),
            }
        };
        if let Some(kind) = field("model_type").and_then(|v| v.as_str()) {
            if kind != "gpt2" {
                return Err(ConfigError::Invalid(format!("model_type is `{kind}`; only GPT-2 models are supported")));
            }
        }
        if let Some(act) = field("activation_function").and_then(|v| v.as_str()) {
            if act != "gelu_new" {
                return Err(ConfigError::Invalid(format!("activation_function is `{act}`; only GPT-2's `gelu_new` is supported")));
            }
        }
        let config = Gpt2Config {
            n_layer: size("n_layer", None)?,
            n_head: size("n_head", None)?,
            n_embd: size("n_embd", None)?,
            n_positions: size("n_positions", Some(defaults::N_POSITIONS))?,
            vocab_size: size("vocab_size", Some(defaults::VOCAB_SIZE))?,
            layer_norm_epsilon: match field("layer_norm_epsilon") {
                Some(v) => v.as_f64().ok_or_else(|| ConfigError::Invalid(format!("`layer_norm_epsilon` must be a number, found {v}")))?,
                None => defaults::LAYER_NORM_EPSILON,
            },
            n_inner: match field("n_inner") {
                Some(_) => Some(size("n_inner", None)?),
                None => None,
            },
        };
        if !config.n_embd.is_multiple_of(config.n_head) {
            return Err(ConfigError::Invalid(format!("n_embd ({}) is not a multiple of n_head ({})", config.n_embd, config.n_head)));
        }
        Ok(config)
    }

    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Bytes the keys and values of one position take in every layer (float32), as a
    /// [`super::PastKeyValues`] holds them.
    pub fn past_bytes_per_token(&self) -> usize {
        self.n_layer * 2 * self.n_embd * 4
    }

    pub fn inner_dim(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }

    /// Parameter count with the LM head tied to `wte`, as the Hub reports it.
    pub fn parameter_count(&self) -> u64 {
        let (c, f) = (self.n_embd as u64, self.inner_dim() as u64);
        let block = 2 * 2 * c + (c * 3 * c + 3 * c) + (c * c + c) + (c * f + f) + (f * c + c);
        (self.vocab_size as u64 + self.n_positions as u64) * c + self.n_layer as u64 * block + 2 * c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpt2_small_counts_124m_parameters() {
        let c = Gpt2Config::from_json(br#"{"n_layer":12,"n_head":12,"n_embd":768,"model_type":"gpt2"}"#).unwrap();
        assert_eq!(c.parameter_count(), 124_439_808);
        assert_eq!(c.head_dim(), 64);
    }

    #[test]
    fn bad_configs_say_which_field() {
        let e = Gpt2Config::from_json(br#"{"n_layer":2,"n_head":3,"n_embd":8}"#).unwrap_err();
        assert!(e.to_string().contains("not a multiple of n_head"), "{e}");
        let e = Gpt2Config::from_json(br#"{"n_layer":2,"n_embd":8}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `n_head`"), "{e}");
        let e = Gpt2Config::from_json(br#"{"n_layer":-1,"n_head":2,"n_embd":8}"#).unwrap_err();
        assert!(e.to_string().contains("`n_layer` must be"), "{e}");
    }
}
