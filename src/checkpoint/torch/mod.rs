//! `pytorch_model.bin`: PyTorch's zip format, whose `data.pkl` only a restricted unpickler reads.

mod pickle;
mod zip;

pub use pickle::PickleError;
pub use zip::TorchZipStream;
