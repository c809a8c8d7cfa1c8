//! The parts every family is built from: dense layers, norms, attention with past keys and
//! values, activations, the vocabulary matrices, and the precision weights are held in.

mod dense;
mod layers;
pub(crate) mod precision;
mod vocab;

pub use dense::Dense;
pub use layers::*;
pub use precision::{Precision, UnsupportedPrecision, F16_DEVIATION_ON_FIXTURES};
pub use vocab::VocabMatrix;
