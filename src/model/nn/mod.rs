//! The parts every family is built from: dense layers, norms, attention with past keys and
//! values (and the separate query, key, value and output projections of GPT-Neo and OPT),
//! rotary position embeddings, activations, the vocabulary matrices, and the precision
//! weights are held in.

mod attention;
mod dense;
mod layers;
pub(crate) mod precision;
mod rotary;
mod vocab;

pub use attention::SeparateQkv;
pub use dense::Dense;
pub use layers::*;
pub use precision::{Precision, UnsupportedPrecision, F16_DEVIATION_ON_FIXTURES};
pub use rotary::{rotate, Rotary};
pub use vocab::VocabMatrix;
