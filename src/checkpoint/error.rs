//! Why a checkpoint's weights could not be loaded.

use crate::model::UnsupportedPrecision;

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file is not what its format says (the message names the format), or a tensor is not
    /// what the family needs.
    #[error("{0}")]
    Format(String),
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?} for this config.json")]
    Shape { name: String, found: Vec<usize>, expected: Vec<usize> },
    #[error("tensor `{name}` has dtype {dtype}; supported: F32, F16, BF16")]
    Dtype { name: String, dtype: String },
    /// NaN or infinity in the file: every number the model gives would be meaningless.
    #[error("tensor `{name}` holds a non-finite value (NaN or infinity) at element {element}")]
    NonFinite { name: String, element: usize },
    #[error("tensor `{0}` is not part of a {1} checkpoint")]
    Unexpected(String, &'static str),
    #[error("the checkpoint lacks {} tensor(s): {}", .0.len(), .0.join(", "))]
    Missing(Vec<String>),
    #[error(transparent)]
    Precision(#[from] UnsupportedPrecision),
}
