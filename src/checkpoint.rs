//! A Hub-layout model folder — `config.json`, `model.safetensors`, `tokenizer.json` — given
//! as bytes, so the CLI (files) and the browser (downloads) load models the same way.

use burn::tensor::Device;

use crate::model::{load_safetensors, ConfigError, Gpt2, Gpt2Config, WeightsError};
use crate::tokenizer::{Tokenizer, TokenizerError};

/// A model ready to score: network, its config and its tokenizer.
pub struct Checkpoint {
    pub config: Gpt2Config,
    pub model: Gpt2,
    pub tokenizer: Tokenizer,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error("tokenizer.json has {tokenizer} tokens but config.json says vocab_size is {config}")]
    VocabMismatch { tokenizer: usize, config: usize },
}

impl Checkpoint {
    pub fn from_bytes(config_json: &[u8], safetensors: &[u8], tokenizer_json: &[u8], device: &Device) -> Result<Self, CheckpointError> {
        let config = Gpt2Config::from_json(config_json)?;
        let tokenizer = Tokenizer::from_bytes(tokenizer_json)?;
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(CheckpointError::VocabMismatch { tokenizer: tokenizer.vocab_size(), config: config.vocab_size });
        }
        let model = load_safetensors(&config, safetensors, device)?;
        Ok(Checkpoint { config, model, tokenizer })
    }
}
