//! Hub `model.safetensors` → [`Gpt2`], one tensor at a time.
//!
//! | Hub key (optionally prefixed `transformer.`) | module field            | shape          |
//! |----------------------------------------------|-------------------------|----------------|
//! | `wte.weight`                                 | `wte.weight`            | `[vocab, C]`   |
//! | `wpe.weight`                                 | `wpe.weight`            | `[n_pos, C]`   |
//! | `h.{i}.ln_1.{weight,bias}`                   | `h[i].ln_1`             | `[C]`          |
//! | `h.{i}.attn.c_attn.{weight,bias}`            | `h[i].attn.c_attn`      | `[C, 3C]`,`[3C]` |
//! | `h.{i}.attn.c_proj.{weight,bias}`            | `h[i].attn.c_proj`      | `[C, C]`,`[C]` |
//! | `h.{i}.ln_2.{weight,bias}`                   | `h[i].ln_2`             | `[C]`          |
//! | `h.{i}.mlp.c_fc.{weight,bias}`               | `h[i].mlp.c_fc`         | `[C, 4C]`,`[4C]` |
//! | `h.{i}.mlp.c_proj.{weight,bias}`             | `h[i].mlp.c_proj`       | `[4C, C]`,`[C]` |
//! | `ln_f.{weight,bias}`                         | `ln_f`                  | `[C]`          |
//! | `lm_head.weight` (optional)                  | `lm_head`               | `[vocab, C]`   |
//! | `h.{i}.attn.bias`, `h.{i}.attn.masked_bias`  | ignored (mask buffers)  |                |
//!
//! Conv1D weights are stored `[in, out]`, already Burn's `Linear` layout: they are copied
//! as they are. A square `c_proj` transposed by mistake would load without complaint and
//! give wrong numbers, so nothing here ever transposes. Without `lm_head.weight` the head
//! is tied to `wte`.

use std::collections::BTreeSet;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{DType, Device, Tensor, TensorData};
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use super::gpt2::LayerNorm;
use super::precision::{narrow_to_f16, widen_to_f32};
use super::stream::TensorSink;
use super::{Gpt2, Gpt2Config, Precision, SafetensorsStream, UnsupportedPrecision, VocabMatrix};

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("model.safetensors is not a valid safetensors file: {0}")]
    Format(String),
    #[error("tensor `{name}` has shape {found:?}, expected {expected:?} for this config.json")]
    Shape { name: String, found: Vec<usize>, expected: Vec<usize> },
    #[error("tensor `{name}` has dtype {dtype}; supported: F32, F16, BF16")]
    Dtype { name: String, dtype: String },
    #[error("tensor `{0}` is not part of a GPT-2 checkpoint")]
    Unexpected(String),
    #[error("model.safetensors lacks {} tensor(s): {}", .0.len(), .0.join(", "))]
    Missing(Vec<String>),
    #[error(transparent)]
    Precision(#[from] UnsupportedPrecision),
}

/// Which parameter a checkpoint key fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Wte,
    Wpe,
    LnF(Half),
    LmHead,
    Block(usize, BlockPart, Half),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum BlockPart {
    Ln1,
    CAttn,
    AttnProj,
    Ln2,
    CFc,
    MlpProj,
}

/// `weight` or `bias`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Half {
    Weight,
    Bias,
}

/// What a key means: a parameter, a buffer to skip, or nothing GPT-2 has.
enum Key {
    Param(Slot),
    Ignored,
}

/// The checkpoint's key of every parameter outside the blocks.
const TOP_KEYS: [(Slot, &str); 5] = [
    (Slot::Wte, "wte.weight"),
    (Slot::Wpe, "wpe.weight"),
    (Slot::LnF(Half::Weight), "ln_f.weight"),
    (Slot::LnF(Half::Bias), "ln_f.bias"),
    (Slot::LmHead, "lm_head.weight"),
];

/// The checkpoint's name of each part of block `h.{i}`, which has a `weight` and a `bias`.
const BLOCK_KEYS: [(BlockPart, &str); 6] = [
    (BlockPart::Ln1, "ln_1"),
    (BlockPart::CAttn, "attn.c_attn"),
    (BlockPart::AttnProj, "attn.c_proj"),
    (BlockPart::Ln2, "ln_2"),
    (BlockPart::CFc, "mlp.c_fc"),
    (BlockPart::MlpProj, "mlp.c_proj"),
];

const HALF_KEYS: [(Half, &str); 2] = [(Half::Weight, "weight"), (Half::Bias, "bias")];

/// The attention-mask buffers of block `h.{i}`, which the model does not use.
const IGNORED_BLOCK_KEYS: [&str; 2] = ["attn.bias", "attn.masked_bias"];

fn key_of<T: Copy + PartialEq>(table: &[(T, &'static str)], value: T) -> &'static str {
    table.iter().find(|(v, _)| *v == value).map(|(_, key)| *key).expect("every value is in its table")
}

fn value_of<T: Copy>(table: &[(T, &str)], key: &str) -> Option<T> {
    table.iter().find(|(_, k)| *k == key).map(|(value, _)| *value)
}

fn parse_key(name: &str, n_layer: usize) -> Option<Key> {
    let key = name.strip_prefix("transformer.").unwrap_or(name);
    if let Some(slot) = value_of(&TOP_KEYS, key) {
        return Some(Key::Param(slot));
    }
    let (index, rest) = key.strip_prefix("h.")?.split_once('.')?;
    let i: usize = index.parse().ok().filter(|&i| i < n_layer)?;
    if IGNORED_BLOCK_KEYS.contains(&rest) {
        return Some(Key::Ignored);
    }
    let (part, half) = rest.rsplit_once('.')?;
    Some(Key::Param(Slot::Block(i, value_of(&BLOCK_KEYS, part)?, value_of(&HALF_KEYS, half)?)))
}

impl Slot {
    fn shape(self, c: &Gpt2Config) -> Vec<usize> {
        let (e, f) = (c.n_embd, c.inner_dim());
        match self {
            Slot::Wte | Slot::LmHead => vec![c.vocab_size, e],
            Slot::Wpe => vec![c.n_positions, e],
            Slot::LnF(_) => vec![e],
            Slot::Block(_, part, half) => {
                let (d_in, d_out) = match part {
                    BlockPart::Ln1 | BlockPart::Ln2 => return vec![e],
                    BlockPart::CAttn => (e, 3 * e),
                    BlockPart::AttnProj => (e, e),
                    BlockPart::CFc => (e, f),
                    BlockPart::MlpProj => (f, e),
                };
                match half {
                    Half::Weight => vec![d_in, d_out],
                    Half::Bias => vec![d_out],
                }
            }
        }
    }

    /// A weight matrix: stored in the loader's [`Precision`] (everything else is float32).
    fn is_matrix(self) -> bool {
        match self {
            Slot::Wte | Slot::LmHead => true,
            Slot::Block(_, part, Half::Weight) => {
                matches!(part, BlockPart::CAttn | BlockPart::AttnProj | BlockPart::CFc | BlockPart::MlpProj)
            }
            _ => false,
        }
    }

    fn name(self) -> String {
        match self {
            Slot::Block(i, part, half) => format!("h.{i}.{}.{}", key_of(&BLOCK_KEYS, part), key_of(&HALF_KEYS, half)),
            top => key_of(&TOP_KEYS, top).to_string(),
        }
    }

    /// Every parameter a checkpoint must provide (`lm_head` may be tied instead).
    fn required(c: &Gpt2Config) -> Vec<Slot> {
        let mut slots = vec![Slot::Wte, Slot::Wpe, Slot::LnF(Half::Weight), Slot::LnF(Half::Bias)];
        for i in 0..c.n_layer {
            for (part, _) in BLOCK_KEYS {
                for (half, _) in HALF_KEYS {
                    slots.push(Slot::Block(i, part, half));
                }
            }
        }
        slots
    }
}

/// Fills a lazily initialised [`Gpt2`] one checkpoint tensor at a time, so that only one
/// tensor's host copy exists at once.
pub struct WeightLoader {
    config: Gpt2Config,
    model: Gpt2,
    device: Device,
    filled: BTreeSet<Slot>,
    /// The row blocks of a vocabulary matrix received so far (see [`Self::add_rows`]).
    blocks: Vec<Param<Tensor<2>>>,
    /// Rows per block of the vocabulary matrices.
    block_rows: usize,
    /// How the weight matrices are stored.
    precision: Precision,
}

impl WeightLoader {
    /// A loader that stores the weights in float32, as checkpoints are published.
    pub fn new(config: &Gpt2Config, device: &Device) -> Self {
        WeightLoader {
            config: config.clone(),
            model: config.init(device),
            device: device.clone(),
            filled: BTreeSet::new(),
            blocks: Vec::new(),
            block_rows: VocabMatrix::block_rows(config.n_embd),
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

    /// Bytes of each piece in which tensor `name` should arrive, if it is loaded in row blocks
    /// rather than whole: the vocabulary matrices (the largest tensors), so the host never
    /// holds more than one block of them. `None`: send the whole tensor to [`Self::add`].
    pub fn piece_bytes(&self, name: &str, dtype: Dtype) -> Option<usize> {
        let vocab = matches!(parse_key(name, self.config.n_layer), Some(Key::Param(Slot::Wte | Slot::LmHead)));
        let width = match dtype {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            _ => return None, // refused whole, with the dtype error
        };
        vocab.then(|| self.block_rows * self.config.n_embd * width)
    }

    /// Stores rows `first_row..` of a tensor that arrives in pieces ([`Self::piece_bytes`]),
    /// `data` being whole rows in the tensor's dtype; the tensor is complete with its last row.
    pub fn add_rows(&mut self, name: &str, dtype: Dtype, shape: &[usize], first_row: usize, data: Vec<u8>) -> Result<(), WeightsError> {
        let slot = match parse_key(name, self.config.n_layer) {
            Some(Key::Param(slot @ (Slot::Wte | Slot::LmHead))) => slot,
            _ => return Err(WeightsError::Format(format!("tensor `{name}` cannot be loaded in row blocks"))),
        };
        let expected = slot.shape(&self.config);
        if shape != expected.as_slice() {
            return Err(WeightsError::Shape { name: name.to_string(), found: shape.to_vec(), expected });
        }
        if first_row == 0 {
            self.blocks.clear();
        }
        let cols = self.config.n_embd;
        let block = self.matrix_data(name, dtype, data, cols)?;
        let (rows, stored) = (block.shape()[0], block.dtype());
        self.blocks.push(Param::from_tensor(Tensor::from_data(block, (&self.device, stored))));
        // Hands the upload to the device now, so its host copy is let go before the next block.
        let _ = self.device.flush();
        if first_row + rows == expected[0] {
            let matrix = VocabMatrix { blocks: std::mem::take(&mut self.blocks) };
            match slot {
                Slot::Wte => self.model.wte = matrix,
                _ => self.model.lm_head = Some(matrix),
            }
            self.filled.insert(slot);
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
    /// become the tensor's data without a copy, so a tensor is held on the host once.
    pub fn add(&mut self, name: &str, dtype: Dtype, shape: &[usize], data: Vec<u8>) -> Result<(), WeightsError> {
        let slot = match parse_key(name, self.config.n_layer) {
            Some(Key::Param(slot)) => slot,
            Some(Key::Ignored) => return Ok(()),
            None => return Err(WeightsError::Unexpected(name.to_string())),
        };
        let expected = slot.shape(&self.config);
        if shape != expected.as_slice() {
            return Err(WeightsError::Shape { name: name.to_string(), found: shape.to_vec(), expected });
        }
        if matches!(slot, Slot::Wte | Slot::LmHead) {
            // One path for the vocabulary matrices: a whole one goes in as its row blocks.
            let piece = self.piece_bytes(name, dtype).unwrap_or(data.len()).max(1);
            let block_rows = self.block_rows;
            for (i, rows) in data.chunks(piece).enumerate() {
                self.add_rows(name, dtype, shape, i * block_rows, rows.to_vec())?;
            }
            return Ok(());
        }
        let data = match slot.is_matrix() {
            true => self.matrix_data(name, dtype, data, shape[1])?,
            false => TensorData::from_bytes_vec(self.float32(name, dtype, data)?, shape.to_vec(), DType::F32),
        };
        self.set(slot, data);
        // Hands the upload to the device now: a device that queues writes (WebGPU) would
        // otherwise keep the host copies of many tensors until the model first runs.
        let _ = self.device.flush();
        self.filled.insert(slot);
        Ok(())
    }

    /// Puts `data` (its shape checked; the weight matrices in the storage precision, all else
    /// float32) on the device as `slot` (any but the vocabulary matrices).
    fn set(&mut self, slot: Slot, data: TensorData) {
        let d = &self.device;
        let t1 = |data: TensorData| Param::from_tensor(Tensor::<1>::from_data(data, d));
        let t2 = |data: TensorData| {
            let stored = data.dtype();
            Param::from_tensor(Tensor::<2>::from_data(data, (d, stored)))
        };
        let norm = |ln: &mut LayerNorm, half: Half, data| match half {
            Half::Weight => ln.weight = t1(data),
            Half::Bias => ln.bias = t1(data),
        };
        let linear = |lin: &mut Linear, half: Half, data| match half {
            Half::Weight => lin.weight = t2(data),
            Half::Bias => lin.bias = Some(t1(data)),
        };
        let m = &mut self.model;
        match slot {
            // Vocabulary matrices are stored block by block by `add_rows`.
            Slot::Wte | Slot::LmHead => {}
            Slot::Wpe => m.wpe.weight = t2(data),
            Slot::LnF(half) => norm(&mut m.ln_f, half, data),
            Slot::Block(i, part, half) => {
                let block = &mut m.h[i];
                match part {
                    BlockPart::Ln1 => norm(&mut block.ln_1, half, data),
                    BlockPart::Ln2 => norm(&mut block.ln_2, half, data),
                    BlockPart::CAttn => linear(&mut block.attn.c_attn, half, data),
                    BlockPart::AttnProj => linear(&mut block.attn.c_proj, half, data),
                    BlockPart::CFc => linear(&mut block.mlp.c_fc, half, data),
                    BlockPart::MlpProj => linear(&mut block.mlp.c_proj, half, data),
                }
            }
        }
    }

    /// The loaded model, once every required tensor has arrived.
    pub fn finish(self) -> Result<Gpt2, WeightsError> {
        let missing: Vec<String> = Slot::required(&self.config).into_iter().filter(|s| !self.filled.contains(s)).map(Slot::name).collect();
        if !missing.is_empty() {
            return Err(WeightsError::Missing(missing));
        }
        Ok(self.model)
    }
}

/// The loader as the stream's sink: the vocabulary matrices in row blocks, the rest whole.
impl TensorSink for WeightLoader {
    fn header(&mut self, _: &Metadata, _: &[(String, TensorInfo)]) -> Result<(), WeightsError> {
        Ok(())
    }

    fn piece_bytes(&self, name: &str, info: &TensorInfo) -> Option<usize> {
        WeightLoader::piece_bytes(self, name, info.dtype)
    }

    fn piece(&mut self, name: &str, info: &TensorInfo, offset: usize, piece: Vec<u8>) -> Result<(), WeightsError> {
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
pub fn load_safetensors(config: &Gpt2Config, bytes: &[u8], device: &Device) -> Result<Gpt2, WeightsError> {
    let mut stream = SafetensorsStream::new(WeightLoader::new(config, device));
    stream.push(bytes)?;
    stream.finish()
}

/// Whether checkpoint tensor `name` is a weight matrix, which half precision stores in f16.
pub(super) fn is_matrix(name: &str) -> bool {
    matches!(parse_key(name, usize::MAX), Some(Key::Param(slot)) if slot.is_matrix())
}

/// Whether checkpoint tensor `name` is a buffer the model ignores (attention masks).
pub(super) fn is_ignored(name: &str) -> bool {
    matches!(parse_key(name, usize::MAX), Some(Key::Ignored))
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
