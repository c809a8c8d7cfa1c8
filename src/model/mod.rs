//! GPT-2 in Burn. Knows nothing of tasks, metrics or browsers.

mod config;
mod gpt2;
mod narrow;
mod precision;
mod stream;
mod vocab;
mod weights;

pub use config::{ConfigError, Gpt2Config};
pub use gpt2::{Attention, Block, Gpt2, KeyValues, LayerNorm, Mlp, Past, PastKeyValues, SharedPrefix};
pub use narrow::F16Rewrite;
pub use precision::{Precision, UnsupportedPrecision, F16_DEVIATION_ON_FIXTURES};
pub use stream::SafetensorsStream;
pub use vocab::VocabMatrix;
pub use weights::{load_safetensors, WeightLoader, WeightsError};
