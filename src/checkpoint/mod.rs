//! A Hub-layout model folder — `config.json`, `model.safetensors`, `tokenizer.json` (or
//! `vocab.json` + `merges.txt`) — so the
//! CLI (files) and the browser (downloads) load models the same way. The weights arrive as a
//! stream of chunks and go to the device tensor by tensor.
//!
//! The formats: `safetensors.rs`, PyTorch's zip and its pickle (`torch/`), told apart by
//! `format.rs`; `loader.rs` puts their tensors on the device; `f16_rewrite.rs` writes the
//! half-precision copy a cache keeps.

mod error;
mod f16_rewrite;
pub mod files;
mod format;
mod loader;
mod safetensors;
mod torch;

pub use error::WeightsError;
pub use f16_rewrite::F16Rewrite;
pub use format::WeightsStream;
pub use loader::{load_safetensors, WeightLoader};
pub use safetensors::SafetensorsStream;
pub use torch::{PickleError, TorchZipStream};

use burn::tensor::Device;

use crate::model::{ConfigError, LanguageModel, ModelConfig, Precision};
use crate::tokenizer::{Tokenizer, TokenizerError, TokenizerFiles};

/// A model ready to score: network, its config and its tokenizer.
pub struct Checkpoint {
    pub config: ModelConfig,
    pub model: LanguageModel,
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
    #[error("the tokenizer has {tokenizer} tokens but config.json says vocab_size is {config}")]
    VocabMismatch { tokenizer: usize, config: usize },
}

/// A checkpoint whose config and tokenizer are read and whose weights are still arriving.
pub struct CheckpointLoader {
    config: ModelConfig,
    tokenizer: Tokenizer,
    weights: WeightsStream,
}

impl CheckpointLoader {
    /// Checks config, tokenizer and precision before any weight is downloaded.
    pub fn new(config_json: &[u8], tokenizer: TokenizerFiles<'_>, device: &Device, precision: Precision) -> Result<Self, CheckpointError> {
        let config = ModelConfig::from_json(config_json)?;
        let tokenizer = Tokenizer::from_files(tokenizer)?;
        if tokenizer.vocab_size() > config.sizes().vocab_size {
            return Err(CheckpointError::VocabMismatch { tokenizer: tokenizer.vocab_size(), config: config.sizes().vocab_size });
        }
        let weights = WeightsStream::new(WeightLoader::new(&config, device).with_precision(precision)?);
        Ok(CheckpointLoader { config, tokenizer, weights })
    }

    /// The next chunk of `model.safetensors` or `pytorch_model.bin`.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), CheckpointError> {
        Ok(self.weights.push(chunk)?)
    }

    /// The current weights file is complete; the next chunks are the next shard's (a sharded
    /// checkpoint: `model-00001-of-00002.safetensors`, …).
    pub fn next_shard(&mut self) -> Result<(), CheckpointError> {
        Ok(self.weights.next_file()?)
    }

    pub fn finish(self) -> Result<Checkpoint, CheckpointError> {
        let model = self.weights.finish()?;
        Ok(Checkpoint { config: self.config, model, tokenizer: self.tokenizer })
    }
}

impl Checkpoint {
    /// Loads a checkpoint whose three files are in memory, its weights in `precision`.
    pub fn from_bytes(
        config_json: &[u8],
        weights: &[u8],
        tokenizer: TokenizerFiles<'_>,
        device: &Device,
        precision: Precision,
    ) -> Result<Self, CheckpointError> {
        let mut loader = CheckpointLoader::new(config_json, tokenizer, device, precision)?;
        loader.push(weights)?;
        loader.finish()
    }
}
