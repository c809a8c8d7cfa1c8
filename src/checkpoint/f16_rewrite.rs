//! A checkpoint rewritten for half precision, as a stream: `model.safetensors` in, the same
//! file with its weight matrices in F16 and without the buffers the model ignores (attention
//! masks, rotary frequencies) out, chunk by chunk. It is what [`Precision::F16`] keeps of a checkpoint,
//! so a cache can hold it (half the bytes, or less) instead of the download. Loaded in half
//! precision, the rewritten file gives exactly the numbers the original gives: its matrices
//! are rounded once, the same way, and kept as they are.

use std::collections::HashMap;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use super::safetensors::{format_error, SafetensorsReader, TensorSink};
use super::WeightsError;
use crate::model::layout::{is_ignored, is_matrix};
use crate::model::precision::{narrow_to_f16, widen_to_f32};
use crate::model::Precision;

/// Bytes handed over at once: a multiple of every element width.
const PIECE_BYTES: usize = 1 << 20;

/// Rewrites a safetensors file, given in consecutive chunks, with its matrices in F16.
pub struct F16Rewrite(SafetensorsReader<Rewriter>);

impl Default for F16Rewrite {
    fn default() -> Self {
        Self::new()
    }
}

impl F16Rewrite {
    pub fn new() -> Self {
        F16Rewrite(SafetensorsReader::new(Rewriter { plan: HashMap::new(), out: Vec::new() }))
    }

    /// Takes the next chunk of the original file; returns the next bytes of the rewritten one.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, WeightsError> {
        self.0.push(chunk)?;
        Ok(std::mem::take(&mut self.0.sink.out))
    }

    /// Checks that the whole original file has arrived.
    pub fn finish(self) -> Result<(), WeightsError> {
        self.0.finish().map(|_| ())
    }
}

/// What becomes of a tensor's bytes.
#[derive(Clone, Copy)]
enum Bytes {
    Copied,
    /// Narrowed to F16 from this dtype.
    Narrowed(Dtype),
    Dropped,
}

struct Rewriter {
    plan: HashMap<String, Bytes>,
    /// Rewritten bytes not yet handed out.
    out: Vec<u8>,
}

impl TensorSink for Rewriter {
    /// Writes the rewritten header (matrices in F16, offsets moved up), padded to 8 bytes as
    /// the format recommends.
    fn header(&mut self, metadata: &Metadata, tensors: &[(String, TensorInfo)]) -> Result<(), WeightsError> {
        let mut kept = Vec::new();
        let mut offset = 0;
        for (name, info) in tensors {
            let size = info.data_offsets.1 - info.data_offsets.0;
            let bytes = match info.dtype {
                _ if is_ignored(name) => Bytes::Dropped,
                Dtype::F32 | Dtype::BF16 if is_matrix(name, info.shape.len()) => Bytes::Narrowed(info.dtype),
                _ => Bytes::Copied,
            };
            self.plan.insert(name.clone(), bytes);
            let (dtype, new_size) = match bytes {
                Bytes::Dropped => continue,
                Bytes::Narrowed(Dtype::F32) => (Dtype::F16, size / 2),
                Bytes::Narrowed(_) => (Dtype::F16, size),
                Bytes::Copied => (info.dtype, size),
            };
            kept.push((name.clone(), TensorInfo { dtype, shape: info.shape.clone(), data_offsets: (offset, offset + new_size) }));
            offset += new_size;
        }
        let mut notes = metadata.metadata().clone().unwrap_or_default();
        notes.insert("invscale".into(), format!("weight matrices in {}", Precision::F16.name()));
        let rewritten = Metadata::new(Some(notes), kept).map_err(|e| format_error(&e.to_string()))?;
        let mut header = serde_json::to_vec(&rewritten).map_err(|e| format_error(&e.to_string()))?;
        header.resize(header.len().div_ceil(8) * 8, b' ');
        self.out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        self.out.extend_from_slice(&header);
        Ok(())
    }

    fn piece_bytes(&self, _: &str, _: &TensorInfo) -> Option<usize> {
        Some(PIECE_BYTES)
    }

    fn piece(&mut self, name: &str, _: &TensorInfo, _: usize, piece: Vec<u8>) -> Result<(), WeightsError> {
        match self.plan[name] {
            Bytes::Copied => self.out.extend_from_slice(&piece),
            Bytes::Dropped => {}
            Bytes::Narrowed(Dtype::F32) => self.out.extend_from_slice(&narrow_to_f16(&piece)),
            Bytes::Narrowed(dtype) => self.out.extend_from_slice(&narrow_to_f16(&widen_to_f32(name, dtype, &piece)?)),
        }
        Ok(())
    }
}
