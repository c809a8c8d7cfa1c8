//! `model.safetensors` read as a stream of byte chunks (a download, a cache entry, a file):
//! each tensor goes to the device as soon as its bytes have arrived, so at most one tensor's
//! bytes are held in memory, never the whole checkpoint; the vocabulary matrices (the largest
//! tensors) go in row blocks, so not even one of them is held whole.

use std::collections::VecDeque;

use safetensors::tensor::{Metadata, TensorInfo};

use super::{Gpt2, WeightLoader, WeightsError};

/// The 8-byte little-endian header length that opens every safetensors file.
pub(super) const LEN_BYTES: usize = 8;
/// The format's own limit on the JSON header (100 MB).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Feeds a [`WeightLoader`] from consecutive chunks of a safetensors file.
pub struct SafetensorsStream {
    loader: WeightLoader,
    /// Bytes received but not yet used: part of the header, or of the next tensor.
    pending: Vec<u8>,
    stage: Stage,
}

enum Stage {
    HeaderLength,
    Header { len: usize },
    /// Tensors still to come, in file order, and how many bytes of the first one were used
    /// (tensors the loader takes in row blocks arrive piece by piece).
    Tensors(VecDeque<(String, TensorInfo)>, usize),
}

impl SafetensorsStream {
    pub fn new(loader: WeightLoader) -> Self {
        SafetensorsStream { loader, pending: Vec::new(), stage: Stage::HeaderLength }
    }

    /// Takes the next chunk of the file; loads every tensor it completes.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), WeightsError> {
        loop {
            let needed = match &self.stage {
                Stage::HeaderLength => LEN_BYTES,
                Stage::Header { len } => *len,
                Stage::Tensors(queue, used) => match queue.front() {
                    Some((name, info)) => {
                        let left = info.data_offsets.1 - info.data_offsets.0 - used;
                        self.loader.piece_bytes(name, info.dtype).map_or(left, |piece| piece.min(left))
                    }
                    None if chunk.is_empty() => return Ok(()),
                    None => return Err(format_error("the file goes on after its last tensor")),
                },
            };
            // Take only what the current piece still lacks, so no more than one piece is held.
            let missing = needed.saturating_sub(self.pending.len());
            // Exactly one allocation per piece: a growing Vec could reserve twice a tensor.
            self.pending.reserve_exact(missing);
            let take = missing.min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.pending.len() < needed {
                return Ok(());
            }
            let piece = std::mem::take(&mut self.pending);
            self.stage = match std::mem::replace(&mut self.stage, Stage::HeaderLength) {
                Stage::HeaderLength => Stage::Header { len: header_len(&piece)? },
                Stage::Header { .. } => {
                    let metadata: Metadata = serde_json::from_slice(&piece).map_err(|e| format_error(&e.to_string()))?;
                    let tensors = metadata.tensors();
                    let queue = metadata
                        .offset_keys()
                        .into_iter()
                        .map(|name| {
                            let info = (*tensors[&name]).clone();
                            (name, info)
                        })
                        .collect();
                    Stage::Tensors(queue, 0)
                }
                Stage::Tensors(mut queue, used) => {
                    let (name, info) = queue.front().expect("a tensor was awaited");
                    let size = info.data_offsets.1 - info.data_offsets.0;
                    let used = if self.loader.piece_bytes(name, info.dtype).is_some() {
                        // Pieces are whole rows: the row size divides the piece size.
                        let row_bytes = size / info.shape.first().copied().unwrap_or(1).max(1);
                        let first_row = used / row_bytes.max(1);
                        let used = used + piece.len();
                        self.loader.add_rows(name, info.dtype, &info.shape, first_row, piece)?;
                        used
                    } else {
                        self.loader.add(name, info.dtype, &info.shape, piece)?;
                        size
                    };
                    if used == size {
                        queue.pop_front();
                        Stage::Tensors(queue, 0)
                    } else {
                        Stage::Tensors(queue, used)
                    }
                }
            };
        }
    }

    /// The loaded model, once the whole file has arrived.
    pub fn finish(self) -> Result<Gpt2, WeightsError> {
        match self.stage {
            Stage::Tensors(queue, _) if queue.is_empty() => self.loader.finish(),
            Stage::Tensors(queue, _) => Err(format_error(&format!(
                "the file ends in the middle of tensor `{}`",
                queue.front().map_or("?", |(name, _)| name.as_str())
            ))),
            _ => Err(format_error("the file ends inside its header")),
        }
    }
}

/// The JSON header's length from a file's first [`LEN_BYTES`] bytes, within the format's limit.
pub(super) fn header_len(first: &[u8]) -> Result<usize, WeightsError> {
    let len = u64::from_le_bytes(first[..LEN_BYTES].try_into().expect("8 bytes"));
    if len > MAX_HEADER_BYTES {
        return Err(format_error(&format!("header of {len} bytes (at most {MAX_HEADER_BYTES})")));
    }
    Ok(len as usize)
}

pub(super) fn format_error(message: &str) -> WeightsError {
    WeightsError::Format(message.to_string())
}
