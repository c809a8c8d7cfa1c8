//! Decoder-only language models in Burn: GPT-2, GPT-Neo, GPT-NeoX (Pythia) and OPT. Knows nothing of
//! tasks, metrics or browsers.
//!
//! `nn/` holds the parts every family shares, each family's folder its network and config,
//! `decoder.rs` the one traversal over any family, and `layout.rs` what a checkpoint holds.

mod config;
mod decoder;
mod gpt2;
mod gpt_neo;
mod gpt_neox;
mod language_model;
pub(crate) mod layout;
pub(crate) mod nn;
mod opt;

pub(crate) use nn::precision;

pub use config::{ConfigError, Family, ModelConfig, Sizes};
pub use gpt2::config::Gpt2Config;
pub use gpt2::Gpt2;
pub use gpt_neo::config::GptNeoConfig;
pub use gpt_neo::GptNeo;
pub use gpt_neox::config::GptNeoXConfig;
pub use gpt_neox::GptNeoX;
pub use language_model::LanguageModel;
pub use nn::{Activation, KeyValues, PastKeyValues, SharedPrefix, VocabMatrix};
pub use nn::{Precision, UnsupportedPrecision, F16_DEVIATION_ON_FIXTURES};
pub use opt::config::OptConfig;
pub use opt::Opt;
