//! `config.json` of any supported family → [`ModelConfig`], and what every family's config
//! tells the rest of the crate (context length, sizes, parameter count, the tensors its
//! checkpoint holds).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::layout::Expected;
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
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?;
        if !json.is_object() {
            return Err(ConfigError::Invalid("expected a JSON object".into()));
        }
        #[derive(Deserialize)]
        struct ModelType {
            model_type: Option<String>,
        }
        let ModelType { model_type } = read_fields(&json)?;
        match model_type.as_deref() {
            None | Some("gpt2") => Ok(ModelConfig::Gpt2(Gpt2Config::from_json(&json)?)),
            Some("gpt_neo") => Ok(ModelConfig::GptNeo(GptNeoConfig::from_json(&json)?)),
            Some("gpt_neox") => Ok(ModelConfig::GptNeoX(GptNeoXConfig::from_json(&json)?)),
            Some("opt") => Ok(ModelConfig::Opt(OptConfig::from_json(&json)?)),
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

/// Reads the fields of `config.json` (an object) that `T` names, as the Hub names them. A
/// field set to null counts as absent, as transformers reads it; an error names the field.
pub(super) fn read_fields<T: DeserializeOwned>(json: &serde_json::Value) -> Result<T, ConfigError> {
    let mut fields = json.as_object().cloned().unwrap_or_default();
    fields.retain(|_, v| !v.is_null());
    serde_path_to_error::deserialize(serde_json::Value::Object(fields)).map_err(|e| {
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        ConfigError::Invalid(if field == "." { message } else { format!("`{field}`: {message}") })
    })
}

/// Sizes no real model reaches, each far above the largest published one (Llama 3.1 405B: 126
/// layers, 128 heads, width 16,384, MLP 53,248; Qwen2.5-1M: 1,010,000 positions; Gemma:
/// 262,144 tokens), so that a `config.json` cannot make the loader plan, allocate or compute
/// beyond what any device holds, and sums and products of them cannot overflow.
pub mod limits {
    pub const LAYERS: usize = 1024;
    pub const HEADS: usize = 1024;
    pub const WIDTH: usize = 65_536;
    pub const INNER: usize = 262_144;
    pub const POSITIONS: usize = 1 << 21;
    pub const VOCAB: usize = 1 << 20;
}

/// A size from `config.json`: a whole number from 1 to `MAX` (one of [`limits`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Positive<const MAX: usize>(pub usize);

/// Transformer blocks.
pub(super) type Layers = Positive<{ limits::LAYERS }>;
/// Attention heads (of queries, or of keys and values).
pub(super) type Heads = Positive<{ limits::HEADS }>;
/// A width of the residual stream (or of the embedding before its projection).
pub(super) type Width = Positive<{ limits::WIDTH }>;
/// The width of the MLP's hidden layer.
pub(super) type Inner = Positive<{ limits::INNER }>;
/// A number of positions (the context, or a local attention window).
pub(super) type Positions = Positive<{ limits::POSITIONS }>;
/// Rows of the embedding.
pub(super) type Vocab = Positive<{ limits::VOCAB }>;

impl<'de, const MAX: usize> Deserialize<'de> for Positive<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<const MAX: usize>;
        impl<const MAX: usize> serde::de::Visitor<'_> for Visit<MAX> {
            type Value = Positive<MAX>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                write!(f, "a whole number from 1 to {MAX}")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Positive<MAX>, E> {
                match usize::try_from(n) {
                    Ok(n) if (1..=MAX).contains(&n) => Ok(Positive(n)),
                    Ok(0) => Err(E::custom("must be a positive whole number, found 0")),
                    _ => Err(E::custom(format!("must be at most {MAX} (no real model comes near), found {n}"))),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Positive<MAX>, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom(format!("must be a positive whole number, found {n}")))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_f64<E: serde::de::Error>(self, x: f64) -> Result<Positive<MAX>, E> {
                Err(E::custom(format!("must be a positive whole number, found {x}")))
            }
        }
        d.deserialize_any(Visit::<MAX>)
    }
}

/// A default of `#[serde(default = …)]`.
pub(super) fn yes() -> bool {
    true
}
