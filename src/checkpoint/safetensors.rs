//! `model.safetensors` read as a stream of byte chunks (a download, a cache entry, a file):
//! the 8-byte header length, the JSON header, then each tensor's bytes in file order, handed
//! to a [`TensorSink`] in pieces of the size it asks for. So at most one piece is held in
//! memory, never the whole checkpoint. Two sinks: [`WeightLoader`] (each tensor to the
//! device, the vocabulary matrices in row blocks) and the f16 rewrite (`f16_rewrite.rs`).

use std::collections::VecDeque;

use safetensors::tensor::{Metadata, TensorInfo};

use super::{WeightLoader, WeightsError};
use crate::model::LanguageModel;

/// The 8-byte little-endian header length that opens every safetensors file.
const LEN_BYTES: usize = 8;
/// The format's own limit on the JSON header (100 MB).
const MAX_HEADER_BYTES: u64 = 100_000_000;
/// Pieces in which a tensor the sink does not want passes through.
pub(super) const SKIPPED_PIECE_BYTES: usize = 1 << 20;

/// What the tensors of a streamed safetensors file go to.
pub(super) trait TensorSink {
    /// The header has been read; `tensors` are in file order. Checks each against what the
    /// sink wants before any of their bytes is held.
    fn header(&mut self, metadata: &Metadata, tensors: &[(String, TensorInfo)]) -> Result<(), WeightsError>;
    /// The most bytes of tensor `name` to hand over at once (whole elements, or whole rows);
    /// `None` for the whole tensor in one piece.
    fn piece_bytes(&self, name: &str, info: &TensorInfo) -> Option<usize>;
    /// Bytes `offset..offset + piece.len()` of the tensor's data.
    fn piece(&mut self, name: &str, info: &TensorInfo, offset: usize, piece: Vec<u8>) -> Result<(), WeightsError>;
}

/// The state machine over a file's chunks, for any [`TensorSink`].
pub(super) struct SafetensorsReader<S> {
    pub(super) sink: S,
    /// Bytes received but not yet used: part of the header, or of the next piece.
    pending: Vec<u8>,
    stage: Stage,
    /// The file's size, when the source knows it: the header's tensors must fit in it, and only
    /// then is a piece's memory taken at once rather than as its bytes arrive.
    file_size: Option<u64>,
}

enum Stage {
    HeaderLength,
    Header {
        len: usize,
    },
    /// Tensors still to come, in file order, and how many bytes of the first one were used.
    Tensors(VecDeque<(String, TensorInfo)>, usize),
}

impl<S: TensorSink> SafetensorsReader<S> {
    pub(super) fn new(sink: S) -> Self {
        SafetensorsReader { sink, pending: Vec::new(), stage: Stage::HeaderLength, file_size: None }
    }

    /// The reader of a file of `size` bytes, when known.
    pub(super) fn with_file_size(self, size: Option<u64>) -> Self {
        SafetensorsReader { file_size: size, ..self }
    }

    /// Takes the next chunk of the file; hands the sink every piece it completes.
    pub(super) fn push(&mut self, mut chunk: &[u8]) -> Result<(), WeightsError> {
        loop {
            let needed = match &self.stage {
                Stage::HeaderLength => LEN_BYTES,
                Stage::Header { len } => *len,
                Stage::Tensors(queue, used) => match queue.front() {
                    Some((name, info)) => {
                        let left = info.data_offsets.1 - info.data_offsets.0 - used;
                        self.sink.piece_bytes(name, info).map_or(left, |piece| piece.min(left))
                    }
                    None if chunk.is_empty() => return Ok(()),
                    None => return Err(format_error("the file goes on after its last tensor")),
                },
            };
            // Take only what the current piece still lacks, so no more than one piece is held.
            let missing = needed.saturating_sub(self.pending.len());
            // Exactly one allocation per piece (a growing Vec could reserve twice a tensor),
            // once the file is known to hold it.
            if self.file_size.is_some() {
                self.pending.reserve_exact(missing);
            }
            let take = missing.min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.pending.len() < needed {
                return Ok(());
            }
            let piece = std::mem::take(&mut self.pending);
            self.stage = match std::mem::replace(&mut self.stage, Stage::HeaderLength) {
                Stage::HeaderLength => Stage::Header { len: header_len(&piece)? },
                Stage::Header { len } => {
                    let (metadata, tensors) = read_header(&piece)?;
                    let data = tensors.iter().map(|(_, info)| info.data_offsets.1 as u64).max().unwrap_or(0);
                    if let Some(size) = self.file_size.filter(|&size| (LEN_BYTES + len) as u64 + data > size) {
                        return Err(format_error(&format!(
                            "its header's tensors take {data} bytes, but the file holds {} after its header",
                            size.saturating_sub((LEN_BYTES + len) as u64)
                        )));
                    }
                    self.sink.header(&metadata, &tensors)?;
                    Stage::Tensors(tensors.into(), 0)
                }
                Stage::Tensors(mut queue, used) => {
                    let (name, info) = queue.front().expect("a tensor was awaited");
                    let size = info.data_offsets.1 - info.data_offsets.0;
                    let now_used = used + piece.len();
                    self.sink.piece(name, info, used, piece)?;
                    if now_used == size {
                        queue.pop_front();
                        Stage::Tensors(queue, 0)
                    } else {
                        Stage::Tensors(queue, now_used)
                    }
                }
            };
        }
    }

    /// The sink, once the whole file has arrived.
    pub(super) fn finish(self) -> Result<S, WeightsError> {
        match self.stage {
            Stage::Tensors(queue, _) if queue.is_empty() => Ok(self.sink),
            Stage::Tensors(queue, _) => Err(format_error(&format!(
                "the file ends in the middle of tensor `{}`",
                queue.front().map_or("?", |(name, _)| name.as_str())
            ))),
            _ => Err(format_error("the file ends inside its header")),
        }
    }
}

/// Feeds a [`WeightLoader`] from consecutive chunks of a safetensors file.
pub struct SafetensorsStream(SafetensorsReader<WeightLoader>);

impl SafetensorsStream {
    /// A stream into `loader` of a file of `size` bytes, when known.
    pub fn new(loader: WeightLoader, size: Option<u64>) -> Self {
        SafetensorsStream(SafetensorsReader::new(loader).with_file_size(size))
    }

    /// Takes the next chunk of the file; loads every tensor it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), WeightsError> {
        self.0.push(chunk)
    }

    /// The loaded model, once the whole file has arrived.
    pub fn finish(self) -> Result<LanguageModel, WeightsError> {
        self.end_of_file()?.finish()
    }

    /// The loader, once the whole file has arrived, for the next file of a sharded checkpoint.
    pub fn end_of_file(self) -> Result<WeightLoader, WeightsError> {
        self.0.finish()
    }
}

/// The JSON header: its metadata and its tensors in file order, each checked (its dtype, its
/// shape's size against its offsets, its offsets against the tensor before it) with its name.
fn read_header(bytes: &[u8]) -> Result<(Metadata, Vec<(String, TensorInfo)>), WeightsError> {
    let entries: std::collections::HashMap<String, serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| format_error(&format!("its header is not a JSON object of tensors: {e}")))?;
    let mut metadata = None;
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, entry) in entries {
        if name == "__metadata__" {
            metadata = Some(serde_json::from_value(entry).map_err(|e| format_error(&format!("`__metadata__`: {e}")))?);
            continue;
        }
        // The page's address space is 32 bits: an offset past it is said so, not as serde's
        // "expected usize".
        let offsets = entry["data_offsets"].as_array().into_iter().flatten().filter_map(serde_json::Value::as_u64);
        if let Some(offset) = offsets.into_iter().find(|&o| usize::try_from(o).is_err()) {
            return Err(format_error(&format!("tensor `{name}` reaches byte {offset}, past what this machine can address")));
        }
        let info: TensorInfo = serde_json::from_value(entry).map_err(|e| format_error(&format!("tensor `{name}`: {e}")))?;
        tensors.push((name, info));
    }
    tensors.sort_by_key(|(_, info)| info.data_offsets);
    let mut end = 0;
    for (name, info) in &tensors {
        let (start, stop) = info.data_offsets;
        if start != end || stop < start {
            return Err(format_error(&format!("tensor `{name}` takes bytes {start}..{stop}, but the tensor before it ends at byte {end}")));
        }
        let bytes = info.shape.iter().try_fold(info.dtype.bitsize(), |n, &d| n.checked_mul(d)).map(|bits| bits.div_ceil(8));
        if bytes != Some(stop - start) {
            return Err(format_error(&format!(
                "tensor `{name}` of shape {:?} and dtype {:?} takes bytes {start}..{stop}, which is not its size",
                info.shape, info.dtype
            )));
        }
        end = stop;
    }
    let checked = Metadata::new(metadata, tensors.clone()).map_err(|e| format_error(&e.to_string()))?;
    Ok((checked, tensors))
}

/// The JSON header's length from a file's first [`LEN_BYTES`] bytes, within the format's limit.
fn header_len(first: &[u8]) -> Result<usize, WeightsError> {
    let len = u64::from_le_bytes(first[..LEN_BYTES].try_into().expect("8 bytes"));
    if len > MAX_HEADER_BYTES {
        return Err(format_error(&format!("header of {len} bytes (at most {MAX_HEADER_BYTES})")));
    }
    Ok(len as usize)
}

pub(super) fn format_error(message: &str) -> WeightsError {
    WeightsError::Format(format!("not a valid safetensors file: {message}"))
}
