//! A checkpoint's tensors → the family's network, one tensor at a time.
//!
//! Each family's config lists the tensors its checkpoints hold ([`Expected`]: key, shape, and
//! how it is held). Keys may carry the family's prefix (`transformer.`, `gpt_neox.`). Weight
//! matrices are stored in the loader's [`Precision`]; everything else in float32. Projections
//! published in `nn.Linear`'s `[out, in]` layout are transposed to Burn's `[in, out]` on the host,
//! one tensor at a time; GPT-2's Conv1D weights are already `[in, out]` and copied as they are.
//! The vocabulary matrices (the largest tensors) arrive in row blocks.

use std::collections::HashMap;

use burn::module::Param;
use burn::tensor::{DType, Device, Tensor, TensorData};
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use super::safetensors::{TensorSink, SKIPPED_PIECE_BYTES};
use super::{SafetensorsStream, WeightsError};
use crate::model::layout::{is_ignored, is_matrix, Expected, Kind, Layout, Loaded, Weights};
use crate::model::precision::{first_non_finite, narrow_to_f16, widen_to_f32};
use crate::model::{LanguageModel, ModelConfig, Precision, VocabMatrix};

/// Refuses `data` (elements from `first` on of tensor `name`) if it holds NaN or infinity.
fn finite(name: &str, dtype: Dtype, data: &[u8], first: usize) -> Result<(), WeightsError> {
    match first_non_finite(dtype, data) {
        Some(i) => Err(WeightsError::NonFinite { name: name.to_string(), element: first + i }),
        None => Ok(()),
    }
}

/// `[rows, cols]` elements of `width` bytes → `[cols, rows]`.
fn transposed(data: &[u8], rows: usize, cols: usize, width: usize) -> Vec<u8> {
    let mut out = vec![0u8; data.len()];
    for r in 0..rows {
        for c in 0..cols {
            let (from, to) = ((r * cols + c) * width, (c * rows + r) * width);
            out[to..to + width].copy_from_slice(&data[from..from + width]);
        }
    }
    out
}

/// Builds a family's network one checkpoint tensor at a time, so that only one tensor's host
/// copy exists at once.
pub struct WeightLoader {
    config: ModelConfig,
    expected: HashMap<String, Expected>,
    /// Other keys of expected tensors → their own.
    aliases: HashMap<String, String>,
    /// Keys in the family's order, for the list of missing tensors.
    order: Vec<String>,
    loaded: HashMap<String, Loaded>,
    device: Device,
    /// The row blocks of a vocabulary matrix received so far (see [`Self::add_rows`]).
    blocks: Vec<Param<Tensor<2>>>,
    /// Rows per block of the vocabulary matrices.
    block_rows: usize,
    /// How the weight matrices are stored.
    precision: Precision,
}

impl WeightLoader {
    /// A loader that stores the weights in float32, as checkpoints are published.
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let tensors = config.tensors();
        WeightLoader {
            config: config.clone(),
            order: tensors.iter().map(|t| t.name.clone()).collect(),
            aliases: tensors.iter().flat_map(|t| t.aliases.iter().map(|a| (a.clone(), t.name.clone()))).collect(),
            expected: tensors.into_iter().map(|t| (t.name.clone(), t)).collect(),
            loaded: HashMap::new(),
            device: device.clone(),
            blocks: Vec::new(),
            block_rows: VocabMatrix::block_rows(config.sizes().n_embd),
            precision: Precision::F32,
        }
    }

    /// Stores the weight matrices in `precision` (see [`Precision`]); refused where the device
    /// cannot hold it.
    pub fn with_precision(mut self, precision: Precision) -> Result<Self, WeightsError> {
        precision.check_on(&self.device)?;
        self.precision = precision;
        Ok(self)
    }

    /// Holds the vocabulary matrices in blocks of `rows` rows instead of
    /// [`VocabMatrix::block_rows`] (which keeps each under WebGPU's binding limit); the numbers
    /// do not change. For tests of the block path on small models.
    pub fn with_block_rows(mut self, rows: usize) -> Self {
        self.block_rows = rows.max(1);
        self
    }

    /// What checkpoint key `name` is, its family prefix taken off: `None` for an ignored buffer.
    fn lookup(&self, name: &str) -> Result<Option<&Expected>, WeightsError> {
        let key = name.strip_prefix(self.config.key_prefix()).unwrap_or(name);
        let key = self.aliases.get(key).map_or(key, String::as_str);
        match self.expected.get(key) {
            Some(expected) => Ok(Some(expected)),
            None if is_ignored(key) => Ok(None),
            None => Err(WeightsError::Unexpected(name.to_string(), self.config.family().name())),
        }
    }

    fn checked(&self, name: &str, shape: &[usize]) -> Result<Option<Expected>, WeightsError> {
        let Some(expected) = self.lookup(name)? else { return Ok(None) };
        if shape != expected.shape.as_slice() {
            return Err(WeightsError::Shape { name: name.to_string(), found: shape.to_vec(), expected: expected.shape.clone() });
        }
        if self.loaded.contains_key(&expected.name) {
            return Err(WeightsError::Format(format!("tensor `{name}` is a second copy of `{}`", expected.name)));
        }
        Ok(Some(expected.clone()))
    }

    /// Bytes of each piece in which tensor `name` should arrive, if it is loaded in row blocks
    /// rather than whole: the vocabulary matrices (the largest tensors), so the host never
    /// holds more than one block of them. `None`: send the whole tensor to [`Self::add`].
    pub fn piece_bytes(&self, name: &str, dtype: Dtype) -> Option<usize> {
        let cols = match self.lookup(name) {
            Ok(Some(Expected { kind: Kind::Vocab, shape, .. })) => shape[1],
            _ => return None,
        };
        let width = match dtype {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            _ => return None, // refused whole, with the dtype error
        };
        Some(self.block_rows * cols * width)
    }

    /// Stores rows `first_row..` of a tensor that arrives in pieces ([`Self::piece_bytes`]),
    /// `data` being whole rows in the tensor's dtype; the tensor is complete with its last row.
    pub fn add_rows(&mut self, name: &str, dtype: Dtype, shape: &[usize], first_row: usize, data: Vec<u8>) -> Result<(), WeightsError> {
        let expected = match self.checked(name, shape)? {
            Some(e @ Expected { kind: Kind::Vocab, .. }) => e,
            _ => return Err(WeightsError::Format(format!("tensor `{name}` cannot be loaded in row blocks"))),
        };
        if first_row == 0 {
            self.blocks.clear();
        }
        let cols = expected.shape[1];
        finite(name, dtype, &data, first_row * cols)?;
        let block = self.matrix_data(name, dtype, data, cols)?;
        let (rows, stored) = (block.shape()[0], block.dtype());
        self.blocks.push(Param::from_tensor(Tensor::from_data(block, (&self.device, stored))));
        // Hands the upload to the device now, so its host copy is let go before the next block.
        let _ = self.device.flush();
        if first_row + rows == expected.shape[0] {
            let matrix = VocabMatrix { blocks: std::mem::take(&mut self.blocks) };
            self.loaded.insert(expected.name, Loaded::Vocab(matrix));
        }
        Ok(())
    }

    /// Float32 bytes: F32 as they came (no copy), F16 and BF16 widened.
    fn float32(&self, name: &str, dtype: Dtype, data: Vec<u8>) -> Result<Vec<u8>, WeightsError> {
        match dtype {
            Dtype::F32 => Ok(data),
            _ => widen_to_f32(name, dtype, &data),
        }
    }

    /// Whole rows, `cols` wide, of a weight matrix in the checkpoint's `dtype` → tensor data
    /// in the storage precision. Bytes that already are that precision are kept (no copy):
    /// an F16 checkpoint loads in half precision exactly.
    fn matrix_data(&self, name: &str, dtype: Dtype, data: Vec<u8>, cols: usize) -> Result<TensorData, WeightsError> {
        let (bytes, stored, width) = match (self.precision, dtype) {
            (Precision::F16, Dtype::F16) => (data, DType::F16, 2),
            (Precision::F16, _) => (narrow_to_f16(&self.float32(name, dtype, data)?), DType::F16, 2),
            (Precision::F32, _) => (self.float32(name, dtype, data)?, DType::F32, 4),
        };
        let rows = bytes.len() / (width * cols.max(1));
        Ok(TensorData::from_bytes_vec(bytes, [rows, cols], stored))
    }

    /// Checks and stores one whole tensor. `data` is its raw little-endian bytes; F32 bytes
    /// become the tensor's data without a copy (unless transposed), so a tensor is held on the
    /// host once or twice.
    pub fn add(&mut self, name: &str, dtype: Dtype, shape: &[usize], data: Vec<u8>) -> Result<(), WeightsError> {
        let Some(expected) = self.checked(name, shape)? else { return Ok(()) };
        if !matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
            return Err(WeightsError::Dtype { name: name.to_string(), dtype: format!("{dtype:?}") });
        }
        if expected.kind != Kind::Vocab {
            finite(name, dtype, &data, 0)?;
        }
        let d = &self.device;
        let loaded = match expected.kind {
            Kind::Vocab => {
                // One path for the vocabulary matrices: a whole one goes in as its row blocks.
                let piece = self.piece_bytes(name, dtype).unwrap_or(data.len()).max(1);
                let block_rows = self.block_rows;
                for (i, rows) in data.chunks(piece).enumerate() {
                    self.add_rows(name, dtype, shape, i * block_rows, rows.to_vec())?;
                }
                return Ok(());
            }
            Kind::Vector => {
                let data = TensorData::from_bytes_vec(self.float32(name, dtype, data)?, shape.to_vec(), DType::F32);
                Loaded::Vector(Param::from_tensor(Tensor::<1>::from_data(data, d)))
            }
            Kind::Matrix(layout) => {
                let (data, cols) = match layout {
                    Layout::InOut => (data, shape[1]),
                    Layout::OutIn => (transposed(&data, shape[0], shape[1], dtype.bitsize() / 8), shape[0]),
                };
                let data = if is_matrix(&expected.name, 2) {
                    self.matrix_data(name, dtype, data, cols)?
                } else {
                    let rows = data.len() / (dtype.bitsize() / 8 * cols.max(1));
                    TensorData::from_bytes_vec(self.float32(name, dtype, data)?, [rows, cols], DType::F32)
                };
                let stored = data.dtype();
                Loaded::Matrix(Param::from_tensor(Tensor::<2>::from_data(data, (d, stored))))
            }
        };
        // Hands the upload to the device now: a device that queues writes (WebGPU) would
        // otherwise keep the host copies of many tensors until the model first runs.
        let _ = self.device.flush();
        self.loaded.insert(expected.name, loaded);
        Ok(())
    }

    /// The loaded model, once every required tensor has arrived.
    pub fn finish(self) -> Result<LanguageModel, WeightsError> {
        let missing: Vec<String> =
            self.order.iter().filter(|name| self.expected[*name].required && !self.loaded.contains_key(*name)).cloned().collect();
        if !missing.is_empty() {
            return Err(WeightsError::Missing(missing));
        }
        LanguageModel::from_weights(&self.config, Weights(self.loaded), &self.device)
    }
}

/// The loader as the stream's sink: the vocabulary matrices in row blocks, the rest whole.
impl TensorSink for WeightLoader {
    /// Every tensor's name, shape and dtype checked against the model before its bytes arrive.
    fn header(&mut self, _: &Metadata, tensors: &[(String, TensorInfo)]) -> Result<(), WeightsError> {
        for (name, info) in tensors {
            if self.checked(name, &info.shape)?.is_some() && !matches!(info.dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16) {
                return Err(WeightsError::Dtype { name: name.to_string(), dtype: format!("{:?}", info.dtype) });
            }
        }
        Ok(())
    }

    fn piece_bytes(&self, name: &str, info: &TensorInfo) -> Option<usize> {
        match self.lookup(name) {
            // A buffer the model does not use passes through a little at a time.
            Ok(None) => Some(SKIPPED_PIECE_BYTES),
            _ => WeightLoader::piece_bytes(self, name, info.dtype),
        }
    }

    fn piece(&mut self, name: &str, info: &TensorInfo, offset: usize, piece: Vec<u8>) -> Result<(), WeightsError> {
        if let Ok(None) = self.lookup(name) {
            return Ok(());
        }
        if WeightLoader::piece_bytes(self, name, info.dtype).is_none() {
            return self.add(name, info.dtype, &info.shape, piece);
        }
        // Pieces are whole rows: the row size divides the offset.
        let size = info.data_offsets.1 - info.data_offsets.0;
        let row_bytes = (size / info.shape.first().copied().unwrap_or(1).max(1)).max(1);
        self.add_rows(name, info.dtype, &info.shape, offset / row_bytes, piece)
    }
}

/// Loads a whole `model.safetensors` held in memory.
pub fn load_safetensors(config: &ModelConfig, bytes: &[u8], device: &Device) -> Result<LanguageModel, WeightsError> {
    let mut stream = SafetensorsStream::new(WeightLoader::new(config, device), Some(bytes.len() as u64));
    stream.push(bytes)?;
    stream.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn narrowed(x: f32) -> f32 {
        let bytes = narrow_to_f16(&x.to_le_bytes());
        half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f32()
    }

    #[test]
    fn narrowing_rounds_to_nearest_even_as_torch_half() {
        let ulp = 2f32.powi(-10); // f16's spacing just above 1
        assert_eq!(narrowed(1.0 + ulp / 2.0), 1.0, "a tie goes to the even neighbour (down)");
        assert_eq!(narrowed(1.0 + 3.0 * ulp / 2.0), 1.0 + 2.0 * ulp, "a tie goes to the even neighbour (up)");
        assert_eq!(narrowed(1.0 + 0.6 * ulp), 1.0 + ulp, "nearest");
        assert_eq!(narrowed(-0.1), -0.099975586, "sign kept, nearest");
        assert_eq!(narrowed(65504.0), 65504.0, "largest f16");
        assert_eq!(narrowed(65520.0), f32::INFINITY, "halfway past the largest rounds to infinity");
        assert_eq!(narrowed(6e-8), 2f32.powi(-24), "the smallest subnormal");
        assert_eq!(narrowed(2e-8), 0.0, "below half the smallest subnormal");
    }
}
