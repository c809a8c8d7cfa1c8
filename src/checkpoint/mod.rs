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
mod source;
mod torch;

pub use error::WeightsError;
pub use f16_rewrite::F16Rewrite;
pub use format::WeightsStream;
pub use loader::{load_safetensors, WeightLoader};
pub use safetensors::SafetensorsStream;
pub use source::{read_all, FileChunks, ModelSource};
#[cfg(not(target_family = "wasm"))]
pub use source::{Folder, FolderFile};
pub use torch::{PickleError, TorchZipStream};

use burn::tensor::Device;

use crate::model::{ConfigError, LanguageModel, ModelConfig, Precision};
use crate::tokenizer::{Tokenizer, TokenizerBytes, TokenizerError, TokenizerFiles};
use files::{folder_model_files, model_files, shard_files, VOCAB_MERGES_FILES};

/// A model ready to score: network, its config and its tokenizer.
pub struct Checkpoint {
    pub config: ModelConfig,
    pub model: LanguageModel,
    pub tokenizer: Tokenizer,
    /// The files it was read from (a cache keeps them as one model's).
    pub files: Vec<String>,
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
    /// A token id with no row in the embedding: scoring it would read beyond the matrix.
    #[error("{file}: token `{token}` has id {id}, beyond the embedding's {rows} rows (config.json's vocab_size)")]
    IdBeyondEmbedding { file: &'static str, token: String, id: u32, rows: usize },
    /// On the CPU the weights live in this process's memory, which cannot address them all.
    #[error(
        "config.json: the model's {parameters} parameters take at least {} GiB in {precision}, more than the {} GiB \
         this machine can address on the CPU: choose WebGPU, or a smaller model",
        .bytes >> 30, (usize::MAX as u64 >> 30) + 1,
    )]
    TooLargeForCpu { parameters: u64, bytes: u64, precision: &'static str },
}

/// Why a source's model could not be loaded; each message names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The source holds no model: what it lacks.
    #[error("{0}")]
    NoModel(String),
    #[error("{file}: {message}")]
    Read { file: String, message: String },
    /// The config or the tokenizer (their messages name the file), or the precision.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("{file}: {error}")]
    Weights { file: String, error: WeightsError },
}

/// How far a weights file has arrived.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    pub file: &'a str,
    pub loaded: u64,
    /// The file's size, when the source knows it.
    pub total: Option<u64>,
}

/// Loads the model `source` holds, its weight matrices in `precision`: picks its config,
/// tokenizer and weights ([`files`]), checks the config and tokenizer before any weight is
/// read, then streams the weights to `device` file by file (shard after shard), telling
/// `progress` as they arrive. The CLI, the page's workers and the tests all load this way.
pub async fn load(
    source: &impl ModelSource,
    device: &Device,
    precision: Precision,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Checkpoint, LoadError> {
    let plan = match source.file_names().await.map_err(LoadError::NoModel)? {
        Some(names) => folder_model_files(&names).map_err(LoadError::NoModel)?,
        None => model_files(None),
    };
    let read = |file: &'static str| async move {
        let failed = |message| LoadError::Read { file: file.to_string(), message };
        read_all(&mut source.open(file).await.map_err(failed)?).await.map_err(failed)
    };
    let config = read("config.json").await?;
    let tokenizer = if plan.contains(&"tokenizer.json") {
        TokenizerBytes::Json(read("tokenizer.json").await?)
    } else {
        let [vocab, merges, config] = VOCAB_MERGES_FILES;
        let config = if plan.contains(&config) { Some(read(config).await?) } else { None };
        TokenizerBytes::VocabMerges(read(vocab).await?, read(merges).await?, config)
    };
    let mut loader = CheckpointLoader::new(&config, tokenizer.files(), device, precision)?;
    let weights_file = *plan.last().expect("the plan names the weights");
    let mut files: Vec<String> = plan.iter().map(|f| f.to_string()).collect();
    let weights = match weights_file.ends_with(".index.json") {
        true => shard_files(&read(weights_file).await?).map_err(|message| LoadError::Read { file: weights_file.to_string(), message })?,
        false => vec![files.pop().expect("the weights")],
    };
    for (n, file) in weights.iter().enumerate() {
        if n > 0 {
            loader.weights.next_file().map_err(weights_error(&weights[n - 1]))?;
        }
        let read_error = |message| LoadError::Read { file: file.clone(), message };
        let mut reader = source.open(file).await.map_err(read_error)?;
        let (total, mut loaded) = (reader.size(), 0u64);
        loader.weights.start_file(file, total);
        while let Some(chunk) = reader.next_chunk().await.map_err(read_error)? {
            loader.weights.push(&chunk).map_err(weights_error(file))?;
            loaded += chunk.len() as u64;
            progress(Progress { file, loaded, total });
        }
    }
    let model = loader.weights.finish().map_err(weights_error(weights_file))?;
    files.extend(weights);
    Ok(Checkpoint { config: loader.config, model, tokenizer: loader.tokenizer, files })
}

/// An error of weights file `file`.
fn weights_error(file: &str) -> impl FnOnce(WeightsError) -> LoadError + '_ {
    move |error| LoadError::Weights { file: file.to_string(), error }
}

/// A checkpoint whose config and tokenizer are read and whose weights are still arriving.
struct CheckpointLoader {
    config: ModelConfig,
    tokenizer: Tokenizer,
    weights: WeightsStream,
}

impl CheckpointLoader {
    /// Checks config, tokenizer and precision before any weight is read.
    fn new(config_json: &[u8], tokenizer: TokenizerFiles<'_>, device: &Device, precision: Precision) -> Result<Self, CheckpointError> {
        let config = ModelConfig::from_json(config_json)?;
        let file = tokenizer.vocabulary_file();
        let tokenizer = Tokenizer::from_files(tokenizer)?;
        let rows = config.sizes().vocab_size;
        if tokenizer.vocab_size() > rows {
            return Err(CheckpointError::VocabMismatch { tokenizer: tokenizer.vocab_size(), config: rows });
        }
        if let Some((token, id)) = tokenizer.largest_id().filter(|&(_, id)| id as usize >= rows) {
            return Err(CheckpointError::IdBeyondEmbedding { file, token, id, rows });
        }
        // Before anything is downloaded: on the CPU the weights must fit in the address space
        // (the page's is 4 GiB), at their narrowest (every matrix in f16 with f16 weights).
        let parameters = config.parameter_count();
        let bytes = parameters.saturating_mul(if precision == Precision::F16 { 2 } else { 4 });
        if *device == Device::flex() && usize::try_from(bytes).is_err() {
            return Err(CheckpointError::TooLargeForCpu { parameters, bytes, precision: precision.name() });
        }
        let weights = WeightsStream::new(WeightLoader::new(&config, device).with_precision(precision)?);
        Ok(CheckpointLoader { config, tokenizer, weights })
    }
}
