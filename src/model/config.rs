//! `config.json` of any supported family → [`ModelConfig`], and what every family's config
//! tells the rest of the crate (context length, sizes, parameter count, the tensors its
//! checkpoint holds).

use super::layout::Expected;
use super::nn::Activation;
use super::{Gpt2Config, GptNeoConfig, GptNeoXConfig, OptConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config.json is not valid JSON: {0}")]
    Json(String),
    #[error("config.json: {0}")]
    Invalid(String),
}

/// The architectures this crate implements, as `config.json`'s `model_type` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Gpt2,
    GptNeo,
    GptNeoX,
    Opt,
}

impl Family {
    /// The name people know the family by.
    pub fn name(self) -> &'static str {
        match self {
            Family::Gpt2 => "GPT-2",
            Family::GptNeo => "GPT-Neo",
            Family::GptNeoX => "GPT-NeoX",
            Family::Opt => "OPT",
        }
    }

    pub const MODEL_TYPES: &'static str = "gpt2, gpt_neo, gpt_neox, opt";
}

/// A model's hyper-parameters, whatever its family.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelConfig {
    Gpt2(Gpt2Config),
    GptNeo(GptNeoConfig),
    GptNeoX(GptNeoXConfig),
    Opt(OptConfig),
}

impl ModelConfig {
    /// Reads a Hub `config.json`; its `model_type` picks the family (none: GPT-2, as the
    /// oldest GPT-2 configs have none). Fields a family does not use are ignored.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ConfigError> {
        let fields = Fields::parse(bytes)?;
        match fields.text("model_type")? {
            None | Some("gpt2") => Ok(ModelConfig::Gpt2(Gpt2Config::from_fields(&fields)?)),
            Some("gpt_neo") => Ok(ModelConfig::GptNeo(GptNeoConfig::from_fields(&fields)?)),
            Some("gpt_neox") => Ok(ModelConfig::GptNeoX(GptNeoXConfig::from_fields(&fields)?)),
            Some("opt") => Ok(ModelConfig::Opt(OptConfig::from_fields(&fields)?)),
            Some(other) => Err(ConfigError::Invalid(format!("model_type is `{other}`; supported model types: {}", Family::MODEL_TYPES))),
        }
    }

    pub fn family(&self) -> Family {
        match self {
            ModelConfig::Gpt2(_) => Family::Gpt2,
            ModelConfig::GptNeo(_) => Family::GptNeo,
            ModelConfig::GptNeoX(_) => Family::GptNeoX,
            ModelConfig::Opt(_) => Family::Opt,
        }
    }

    /// The sizes every family has.
    pub fn sizes(&self) -> &Sizes {
        match self {
            ModelConfig::Gpt2(c) => &c.sizes,
            ModelConfig::GptNeo(c) => &c.sizes,
            ModelConfig::GptNeoX(c) => &c.sizes,
            ModelConfig::Opt(c) => &c.sizes,
        }
    }

    /// Longest sequence the model reads.
    pub fn n_positions(&self) -> usize {
        self.sizes().n_positions
    }

    /// Bytes the keys and values of one position take in every layer (float32), as a
    /// [`super::PastKeyValues`] holds them.
    pub fn past_bytes_per_token(&self) -> usize {
        let s = self.sizes();
        s.n_layer * 2 * s.n_embd * 4
    }

    /// The prefix the family's checkpoints may put before their keys.
    pub(crate) fn key_prefix(&self) -> &'static str {
        match self {
            ModelConfig::Gpt2(_) | ModelConfig::GptNeo(_) => "transformer.",
            ModelConfig::GptNeoX(_) => "gpt_neox.",
            ModelConfig::Opt(_) => "model.",
        }
    }

    /// The tensors the family's checkpoints hold, keys without [`Self::key_prefix`].
    pub(crate) fn tensors(&self) -> Vec<Expected> {
        match self {
            ModelConfig::Gpt2(c) => c.tensors(),
            ModelConfig::GptNeo(c) => c.tensors(),
            ModelConfig::GptNeoX(c) => c.tensors(),
            ModelConfig::Opt(c) => c.tensors(),
        }
    }

    /// Parameter count as the Hub reports it: the elements of the tensors the checkpoint must
    /// hold ([`Self::tensors`]), so a tied head is counted once.
    pub fn parameter_count(&self) -> u64 {
        self.tensors().iter().filter(|t| t.required).map(|t| t.shape.iter().map(|&d| d as u64).product::<u64>()).sum()
    }
}

/// The sizes of a decoder-only transformer, whatever its family calls them.
#[derive(Clone, Debug, PartialEq)]
pub struct Sizes {
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Attention heads per block; divides `n_embd`.
    pub n_head: usize,
    /// Width of the residual stream.
    pub n_embd: usize,
    /// Longest sequence the model reads.
    pub n_positions: usize,
    /// Rows of the embedding and the LM head (may exceed the tokenizer's vocabulary).
    pub vocab_size: usize,
    /// Width of the MLP's hidden layer.
    pub inner_dim: usize,
}

impl Sizes {
    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }

    /// Checks that the heads divide the width.
    pub(super) fn checked(self) -> Result<Self, ConfigError> {
        if !self.n_embd.is_multiple_of(self.n_head) {
            return Err(ConfigError::Invalid(format!("the width ({}) is not a multiple of the head count ({})", self.n_embd, self.n_head)));
        }
        Ok(self)
    }
}

/// `config.json`'s fields, read with errors that name the field.
pub(super) struct Fields(serde_json::Value);

impl Fields {
    fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        if !value.is_object() {
            return Err(ConfigError::Invalid("expected a JSON object".into()));
        }
        Ok(Fields(value))
    }

    #[cfg(test)]
    pub(super) fn from_str(text: &str) -> Self {
        Fields::parse(text.as_bytes()).expect("a JSON object")
    }

    fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A positive whole number; `default` when absent (`None`: the field is required).
    pub(super) fn size(&self, name: &str, default: Option<usize>) -> Result<usize, ConfigError> {
        match self.get(name) {
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| ConfigError::Invalid(format!("`{name}` must be a positive whole number, found {v}"))),
            None => default.ok_or_else(|| ConfigError::Invalid(format!("missing field `{name}`"))),
        }
    }

    /// A positive whole number, or `None` when absent.
    pub(super) fn optional_size(&self, name: &str) -> Result<Option<usize>, ConfigError> {
        self.get(name).map(|_| self.size(name, None)).transpose()
    }

    pub(super) fn number(&self, name: &str, default: f64) -> Result<f64, ConfigError> {
        match self.get(name) {
            Some(v) => v.as_f64().ok_or_else(|| ConfigError::Invalid(format!("`{name}` must be a number, found {v}"))),
            None => Ok(default),
        }
    }

    pub(super) fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name) {
            Some(v) => v.as_bool().ok_or_else(|| ConfigError::Invalid(format!("`{name}` must be true or false, found {v}"))),
            None => Ok(default),
        }
    }

    pub(super) fn text(&self, name: &str) -> Result<Option<&str>, ConfigError> {
        match self.get(name) {
            Some(v) => v.as_str().map(Some).ok_or_else(|| ConfigError::Invalid(format!("`{name}` must be a string, found {v}"))),
            None => Ok(None),
        }
    }

    /// The activation function `name` names, `default` when absent.
    pub(super) fn activation(&self, name: &str, default: Activation) -> Result<Activation, ConfigError> {
        match self.text(name)? {
            None => Ok(default),
            Some(value) => Activation::from_name(value)
                .ok_or_else(|| ConfigError::Invalid(format!("{name} is `{value}`; supported: {}", Activation::NAMES))),
        }
    }

    /// The field's JSON value, if present (not null).
    pub(super) fn value(&self, name: &str) -> Option<&serde_json::Value> {
        self.get(name)
    }

    /// Whether the field is present (not null).
    pub(super) fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}
