//! A checkpoint rewritten for half precision, as a stream: `model.safetensors` in, the same
//! file with its weight matrices in F16 and without the buffers the model ignores (GPT-2's
//! attention masks) out, chunk by chunk. What [`Precision::F16`] keeps of a checkpoint, so a
//! cache can hold that (half the bytes, or less) instead of the download: loaded in half
//! precision, the rewritten file gives exactly the numbers the original gives (its matrices
//! are rounded once, the same way, and kept as they are).

use std::collections::VecDeque;

use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::Dtype;

use super::stream::{format_error, header_len, LEN_BYTES};
use super::weights::{is_ignored, is_matrix, narrow_to_f16, widen_to_f32};
use super::{Precision, WeightsError};

/// Rewrites a safetensors file, given in consecutive chunks, with its matrices in F16.
pub struct F16Rewrite {
    pending: Vec<u8>,
    stage: Stage,
}

enum Stage {
    HeaderLength,
    Header { len: usize },
    /// Tensors still to come; `pending` holds the bytes of an element split between chunks.
    Tensors(Plan),
}

/// Each tensor still to come, in file order: bytes left of it and what becomes of them.
type Plan = VecDeque<(usize, Bytes)>;

#[derive(Clone, Copy)]
enum Bytes {
    Copied,
    /// Narrowed to F16 from this dtype.
    Narrowed(Dtype),
    Dropped,
}

impl Default for F16Rewrite {
    fn default() -> Self {
        Self::new()
    }
}

impl F16Rewrite {
    pub fn new() -> Self {
        F16Rewrite { pending: Vec::new(), stage: Stage::HeaderLength }
    }

    /// Takes the next chunk of the original file; returns the next bytes of the rewritten one.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<Vec<u8>, WeightsError> {
        let mut out = Vec::new();
        loop {
            if let Stage::Tensors(queue) = &mut self.stage {
                let Some((left, bytes)) = queue.front_mut() else {
                    return match chunk.is_empty() {
                        true => Ok(out),
                        false => Err(format_error("the file goes on after its last tensor")),
                    };
                };
                if chunk.is_empty() && *left > 0 {
                    return Ok(out);
                }
                let take = (*left).min(chunk.len());
                *left -= take;
                match *bytes {
                    Bytes::Copied => out.extend_from_slice(&chunk[..take]),
                    Bytes::Dropped => {}
                    Bytes::Narrowed(dtype) => {
                        // Whole elements only; a split one waits in `pending` for its rest.
                        self.pending.extend_from_slice(&chunk[..take]);
                        let width = if dtype == Dtype::F32 { 4 } else { 2 };
                        let whole = self.pending.len() / width * width;
                        let elements: Vec<u8> = self.pending.drain(..whole).collect();
                        let float32 = match dtype {
                            Dtype::F32 => elements,
                            _ => widen_to_f32("", dtype, &elements)?,
                        };
                        out.extend_from_slice(&narrow_to_f16(&float32));
                    }
                }
                chunk = &chunk[take..];
                if *left == 0 {
                    queue.pop_front();
                }
                continue;
            }
            let needed = match self.stage {
                Stage::Header { len } => len,
                _ => LEN_BYTES,
            };
            let take = needed.saturating_sub(self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.pending.len() < needed {
                return Ok(out);
            }
            let piece = std::mem::take(&mut self.pending);
            self.stage = match self.stage {
                Stage::HeaderLength => Stage::Header { len: header_len(&piece)? },
                _ => {
                    let (header, tensors) = rewritten_header(&piece)?;
                    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
                    out.extend_from_slice(&header);
                    Stage::Tensors(tensors)
                }
            };
        }
    }

    /// Checks that the whole original file has arrived.
    pub fn finish(self) -> Result<(), WeightsError> {
        match self.stage {
            Stage::Tensors(queue) if queue.is_empty() => Ok(()),
            Stage::Tensors(_) => Err(format_error("the file ends in the middle of a tensor")),
            _ => Err(format_error("the file ends inside its header")),
        }
    }
}

/// The header of the rewritten file (matrices in F16, offsets moved up), padded to 8 bytes as
/// the format recommends, and what to do with each tensor's bytes in file order.
fn rewritten_header(header: &[u8]) -> Result<(Vec<u8>, Plan), WeightsError> {
    let metadata: Metadata = serde_json::from_slice(header).map_err(|e| format_error(&e.to_string()))?;
    let infos = metadata.tensors();
    let mut tensors = Vec::new();
    let mut plan = VecDeque::new();
    let mut offset = 0;
    for name in metadata.offset_keys() {
        let info = infos[&name];
        let size = info.data_offsets.1 - info.data_offsets.0;
        let bytes = match info.dtype {
            _ if is_ignored(&name) => Bytes::Dropped,
            Dtype::F32 | Dtype::BF16 if is_matrix(&name) => Bytes::Narrowed(info.dtype),
            _ => Bytes::Copied,
        };
        plan.push_back((size, bytes));
        let (dtype, new_size) = match bytes {
            Bytes::Dropped => continue,
            Bytes::Narrowed(Dtype::F32) => (Dtype::F16, size / 2),
            Bytes::Narrowed(_) => (Dtype::F16, size),
            Bytes::Copied => (info.dtype, size),
        };
        tensors.push((name, TensorInfo { dtype, shape: info.shape.clone(), data_offsets: (offset, offset + new_size) }));
        offset += new_size;
    }
    let mut metadata = metadata.metadata().clone().unwrap_or_default();
    metadata.insert("invscale".into(), format!("weight matrices in {}", Precision::F16.name()));
    let rewritten = Metadata::new(Some(metadata), tensors).map_err(|e| format_error(&e.to_string()))?;
    let mut bytes = serde_json::to_vec(&rewritten).map_err(|e| format_error(&e.to_string()))?;
    bytes.resize(bytes.len().div_ceil(8) * 8, b' ');
    Ok((bytes, plan))
}
