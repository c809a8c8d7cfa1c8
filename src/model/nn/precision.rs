//! How the weight matrices are held on the device.
//!
//! In half precision the matrices — attention and MLP projections, token embedding, LM head:
//! over 99 % of GPT-2's parameters — are stored as IEEE f16, halving the device memory they
//! take. Each is widened back to float32 where it is used, so every product, sum and
//! normalisation is still computed (and accumulated) in float32; the only change to the
//! numbers is the weights' rounding to f16. Biases, LayerNorms and position embeddings stay
//! float32 (they are small).

use burn::tensor::{Device, FloatDType};
use safetensors::Dtype;

use crate::checkpoint::WeightsError;

/// Storage precision of the weight matrices, named `f32` and `f16`.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Float32, as the checkpoints are published: the numbers match the reference.
    #[default]
    F32,
    /// F16 storage, float32 arithmetic (see the module docs).
    F16,
}

/// The largest difference from float32 that half precision made to any number (log-prob,
/// loss, log-odds) over the test fixtures, rounded up; `tests/suite/half_precision.rs` checks it.
pub const F16_DEVIATION_ON_FIXTURES: f64 = 0.03;

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "f32" => Some(Precision::F32),
            "f16" => Some(Precision::F16),
            _ => None,
        }
    }

    /// The dtype of the weight matrices on the device.
    pub fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::F16 => FloatDType::F16,
        }
    }

    /// Whether `device` can store and convert this precision (a WebGPU adapter needs the
    /// `shader-f16` feature for f16).
    pub fn supported_on(self, device: &Device) -> bool {
        self == Precision::F32 || device.supports_dtype(self.dtype())
    }

    /// [`Self::supported_on`] as an error that says what to choose instead.
    pub fn check_on(self, device: &Device) -> Result<(), UnsupportedPrecision> {
        if self.supported_on(device) {
            Ok(())
        } else {
            Err(UnsupportedPrecision(self))
        }
    }
}

/// The device cannot hold weights in this precision. The CLI, the page and the loader all
/// refuse with this one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "this device cannot hold {} weights: a GPU needs shader f16 support (on WebGPU, the `shader-f16` feature, \
     which this adapter lacks): choose float32, or the CPU backend",
    .0.name()
)]
pub struct UnsupportedPrecision(pub Precision);

/// Float32 little-endian bytes → f16 (round to nearest even, as PyTorch's `.half()`).
pub(crate) fn narrow_to_f16(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 2);
    for b in data.chunks_exact(4) {
        out.extend_from_slice(&half::f16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes());
    }
    out
}

/// F16 or BF16 bytes → float32 little-endian bytes (one allocation of the exact size).
pub(crate) fn widen_to_f32(name: &str, dtype: Dtype, data: &[u8]) -> Result<Vec<u8>, WeightsError> {
    let widen: fn([u8; 2]) -> f32 = match dtype {
        Dtype::F16 => |b| half::f16::from_le_bytes(b).to_f32(),
        Dtype::BF16 => |b| half::bf16::from_le_bytes(b).to_f32(),
        other => return Err(WeightsError::Dtype { name: name.to_string(), dtype: format!("{other:?}") }),
    };
    let mut out = Vec::with_capacity(data.len() * 2);
    for b in data.chunks_exact(2) {
        out.extend_from_slice(&widen([b[0], b[1]]).to_le_bytes());
    }
    Ok(out)
}

/// The first element of `data` (little-endian, in `dtype`) that is NaN or infinite: its
/// exponent bits all set. Other dtypes have none.
pub(crate) fn first_non_finite(dtype: Dtype, data: &[u8]) -> Option<usize> {
    match dtype {
        Dtype::F32 => data.chunks_exact(4).position(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7f80_0000 == 0x7f80_0000),
        Dtype::F16 => data.chunks_exact(2).position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00),
        Dtype::BF16 => data.chunks_exact(2).position(|b| u16::from_le_bytes([b[0], b[1]]) & 0x7f80 == 0x7f80),
        _ => None,
    }
}
