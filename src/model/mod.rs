//! Decoder-only language models in Burn: GPT-2, GPT-Neo, GPT-NeoX (Pythia) and OPT. Knows nothing of
//! tasks, metrics or browsers.

mod config;
mod cpu_activations;
mod decoder;
mod dense;
// Used by the browser build only; its tests run natively.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod dense_kernel;
#[cfg(not(target_family = "wasm"))]
mod dense_panels;
mod gpt2;
mod gpt2_config;
mod gpt_neo;
mod gpt_neo_config;
mod gpt_neox;
mod gpt_neox_config;
mod language_model;
mod layers;
mod narrow;
mod opt;
mod opt_config;
mod pickle;
mod precision;
mod stream;
mod torch_zip;
mod vocab;
mod weights;
mod weights_stream;

pub use config::{ConfigError, Family, ModelConfig, Sizes};
pub use dense_kernel::{use_fused_tiles, Tiles};
pub use gpt2::Gpt2;
pub use gpt2_config::Gpt2Config;
pub use gpt_neo::GptNeo;
pub use gpt_neo_config::GptNeoConfig;
pub use gpt_neox::GptNeoX;
pub use gpt_neox_config::GptNeoXConfig;
pub use language_model::LanguageModel;
pub use layers::{Activation, KeyValues, PastKeyValues, SharedPrefix};
pub use narrow::F16Rewrite;
pub use opt::Opt;
pub use opt_config::OptConfig;
pub use pickle::PickleError;
pub use precision::{Precision, UnsupportedPrecision, F16_DEVIATION_ON_FIXTURES};
pub use stream::SafetensorsStream;
pub use torch_zip::TorchZipStream;
pub use vocab::VocabMatrix;
pub use weights::{load_safetensors, WeightLoader, WeightsError};
pub use weights_stream::WeightsStream;
