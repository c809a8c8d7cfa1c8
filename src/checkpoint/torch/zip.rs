//! `pytorch_model.bin` in PyTorch's zip format (`torch.save` since 1.6), read as a stream of
//! chunks: the zip's entries come in order, stored uncompressed — first `data.pkl` (the state
//! dict, read by the restricted unpickler in `pickle.rs`), then one `data/<key>` entry per
//! storage. Each storage, once complete, gives its tensors to the [`WeightLoader`]; so at most
//! one storage is held in memory. The central directory at the end is not needed.

use std::collections::HashMap;

use safetensors::Dtype;

use super::pickle::{state_dict, StorageDtype, TensorRef};
use crate::checkpoint::{WeightLoader, WeightsError};
use crate::model::LanguageModel;

const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL: u32 = 0x0605_4b50;
const DESCRIPTOR: &[u8; 4] = b"PK\x07\x08";
const HEADER_BYTES: usize = 30;
/// An entry whose size the stream does not give (the small records beside the storages) may
/// be at most this long.
const MAX_SCANNED_BYTES: usize = 64 << 20;

fn error(message: impl std::fmt::Display) -> WeightsError {
    WeightsError::Format(format!("not a valid PyTorch checkpoint: {message}"))
}

/// How an entry's end is known. `torch.save` writes every entry with a data descriptor after
/// its bytes (the local header's sizes are 0): a storage's size comes from `data.pkl`, the
/// other entries end where a descriptor whose sizes equal the bytes so far begins.
#[derive(Clone, Copy)]
enum Length {
    /// The entry's bytes, then `trailer` bytes of data descriptor to skip.
    Known { size: usize, trailer: usize },
    /// Up to the data descriptor (`wide`: zip64's 8-byte sizes); the bytes before `scanned`
    /// hold none, so each chunk is searched once (searching all again was quadratic).
    Descriptor { wide: bool, scanned: usize },
}

enum Stage {
    /// The next local header (or the central directory, which ends the entries).
    Header,
    /// The entry's name and extra field.
    Name { name_len: usize, extra_len: usize, size: u64, described: bool },
    /// The entry's bytes.
    Data { name: String, length: Length },
    /// Past the last entry: the rest is the central directory.
    Done,
}

/// Feeds a [`WeightLoader`] from consecutive chunks of a PyTorch zip checkpoint.
pub struct TorchZipStream {
    loader: WeightLoader,
    stage: Stage,
    pending: Vec<u8>,
    /// The tensors of each storage not yet read, by storage key; `None` until `data.pkl`.
    waiting: Option<HashMap<String, Vec<(String, TensorRef)>>>,
}

impl TorchZipStream {
    pub fn new(loader: WeightLoader) -> Self {
        TorchZipStream { loader, stage: Stage::Header, pending: Vec::new(), waiting: None }
    }

    /// Takes the next chunk of the file; loads the tensors of every storage it completes.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), WeightsError> {
        loop {
            let needed = match &self.stage {
                Stage::Done => return Ok(()),
                Stage::Header => HEADER_BYTES,
                Stage::Name { name_len, extra_len, .. } => name_len + extra_len,
                Stage::Data { length: Length::Known { size, trailer }, .. } => size + trailer,
                Stage::Data { length: Length::Descriptor { wide, scanned }, .. } => {
                    let (wide, scanned) = (*wide, *scanned);
                    // Take what there is, then look for the descriptor in what is new.
                    let take = chunk.len().min(MAX_SCANNED_BYTES + 24 - self.pending.len().min(MAX_SCANNED_BYTES));
                    self.pending.extend_from_slice(&chunk[..take]);
                    chunk = &chunk[take..];
                    match descriptor_at(&self.pending, wide, scanned) {
                        Ok(end) => end,
                        Err(_) if self.pending.len() > MAX_SCANNED_BYTES => {
                            return Err(error("an entry without a size runs past 64 MiB"));
                        }
                        Err(resume) => {
                            if let Stage::Data { length: Length::Descriptor { scanned, .. }, .. } = &mut self.stage {
                                *scanned = resume;
                            }
                            return Ok(());
                        }
                    }
                }
            };
            let take = needed.saturating_sub(self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.pending.len() < needed {
                return Ok(());
            }
            // Bytes past this stage (read while looking for a descriptor) stay pending.
            let rest = self.pending.split_off(needed);
            let bytes = std::mem::replace(&mut self.pending, rest);
            self.stage = match std::mem::replace(&mut self.stage, Stage::Done) {
                Stage::Header => self.header(bytes)?,
                Stage::Name { name_len, extra_len, size, described } => {
                    let name = String::from_utf8_lossy(&bytes[..name_len]).into_owned();
                    let extra = &bytes[name_len..name_len + extra_len];
                    let wide = has_zip64(extra);
                    let length = match (described, self.storage_bytes(&name)?) {
                        (true, Some(size)) => Length::Known { size, trailer: if wide { 24 } else { 16 } },
                        (true, None) => Length::Descriptor { wide, scanned: 0 },
                        (false, _) => {
                            let size = zip64_size(size, extra)?;
                            let size = usize::try_from(size).map_err(|_| error(format!("entry `{name}` is too large for this machine")))?;
                            Length::Known { size, trailer: 0 }
                        }
                    };
                    Stage::Data { name, length }
                }
                Stage::Data { name, length } => {
                    let data_len = match length {
                        Length::Known { size, .. } => size,
                        Length::Descriptor { .. } => {
                            bytes.len() - if matches!(length, Length::Descriptor { wide: true, .. }) { 24 } else { 16 }
                        }
                    };
                    let mut bytes = bytes;
                    bytes.truncate(data_len);
                    self.entry(&name, bytes)?;
                    Stage::Header
                }
                Stage::Done => Stage::Done,
            };
        }
    }

    /// The size of storage entry `name` as `data.pkl` gives it; `None` for other entries.
    fn storage_bytes(&self, name: &str) -> Result<Option<usize>, WeightsError> {
        let file = name.split_once('/').map_or(name, |(_, rest)| rest);
        let Some(key) = file.strip_prefix("data/") else { return Ok(None) };
        let waiting = self.waiting.as_ref().ok_or_else(|| error("a storage comes before data.pkl"))?;
        let Some(tensors) = waiting.get(key) else { return Ok(None) };
        let t = &tensors[0].1;
        let bytes = t.storage_len.checked_mul(t.dtype.bytes() as u64).and_then(|b| usize::try_from(b).ok());
        bytes.map(Some).ok_or_else(|| error(format!("the storage of `{}` is too large", tensors[0].0)))
    }

    fn header(&mut self, bytes: Vec<u8>) -> Result<Stage, WeightsError> {
        let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
        let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        match u32_at(0) {
            LOCAL_HEADER => {}
            CENTRAL_HEADER | END_OF_CENTRAL => return Ok(Stage::Done),
            _ => return Err(error("not a zip archive where an entry should begin")),
        }
        let (flags, method) = (u16_at(6), u16_at(8));
        let (compressed, size) = (u32_at(18), u32_at(22));
        if method != 0 || compressed != size {
            return Err(error("an entry is compressed; PyTorch checkpoints store their entries uncompressed"));
        }
        let described = flags & 0x8 != 0 && size == 0;
        Ok(Stage::Name { name_len: u16_at(26), extra_len: u16_at(28), size: size as u64, described })
    }

    /// A whole entry: the state dict, a storage, or something to skip.
    fn entry(&mut self, name: &str, bytes: Vec<u8>) -> Result<(), WeightsError> {
        let file = name.split_once('/').map_or(name, |(_, rest)| rest);
        if file == "data.pkl" {
            let tensors = state_dict(&bytes).map_err(error)?;
            let mut waiting: HashMap<String, Vec<(String, TensorRef)>> = HashMap::new();
            for (name, tensor) in tensors {
                waiting.entry(tensor.key.clone()).or_default().push((name, tensor));
            }
            self.waiting = Some(waiting);
        } else if file == "byteorder" && bytes != b"little" {
            return Err(error("the checkpoint is big-endian"));
        } else if let Some(key) = file.strip_prefix("data/") {
            let waiting = self.waiting.as_mut().ok_or_else(|| error("a storage comes before data.pkl"))?;
            for (name, tensor) in waiting.remove(key).unwrap_or_default() {
                let (dtype, data) = view(&name, &tensor, &bytes)?;
                self.loader.add(&name, dtype, &tensor.shape, data)?;
            }
        }
        Ok(())
    }

    /// The loaded model, once the whole file has arrived.
    pub fn finish(self) -> Result<LanguageModel, WeightsError> {
        self.end_of_file()?.finish()
    }

    /// The loader, once the whole file has arrived, for the next file of a sharded checkpoint.
    pub fn end_of_file(self) -> Result<WeightLoader, WeightsError> {
        match self.stage {
            Stage::Done => {}
            Stage::Header if self.pending.is_empty() => {}
            _ => return Err(error("the file ends in the middle of an entry")),
        }
        let waiting = self.waiting.ok_or_else(|| error("the file has no data.pkl"))?;
        if let Some((name, _)) = waiting.values().flatten().next() {
            return Err(error(format!("the file ends before the storage of tensor `{name}`")));
        }
        Ok(self.loader)
    }
}

/// Where the data descriptor after an entry's bytes ends, if `pending` holds it: at the first
/// descriptor signature from `from` on whose two sizes equal the bytes before it. Otherwise
/// where to search from once more bytes have come.
fn descriptor_at(pending: &[u8], wide: bool, from: usize) -> Result<usize, usize> {
    let len = if wide { 24 } else { 16 };
    let mut from = from.min(pending.len());
    while let Some(i) = pending[from..].windows(4).position(|w| w == DESCRIPTOR) {
        let at = from + i;
        let Some(fields) = pending.get(at + 8..at + len) else { return Err(at) };
        let (compressed, size) = if wide {
            (u64::from_le_bytes(fields[..8].try_into().expect("8 bytes")), u64::from_le_bytes(fields[8..16].try_into().expect("8 bytes")))
        } else {
            (
                u32::from_le_bytes(fields[..4].try_into().expect("4 bytes")) as u64,
                u32::from_le_bytes(fields[4..8].try_into().expect("4 bytes")) as u64,
            )
        };
        if compressed == at as u64 && size == at as u64 {
            return Ok(at + len);
        }
        from = at + 1;
    }
    // A signature may begin in the last three bytes.
    Err(pending.len().saturating_sub(3).max(from))
}

/// Whether a local header's extra field holds zip64 sizes.
fn has_zip64(extra: &[u8]) -> bool {
    let mut rest = extra;
    while rest.len() >= 4 {
        let (id, len) = (u16::from_le_bytes([rest[0], rest[1]]), u16::from_le_bytes([rest[2], rest[3]]) as usize);
        if id == 1 {
            return true;
        }
        rest = rest.get(4 + len..).unwrap_or_default();
    }
    false
}

/// The real size of an entry whose header says 0xFFFFFFFF: its zip64 extra field's.
fn zip64_size(size: u64, extra: &[u8]) -> Result<u64, WeightsError> {
    if size != u32::MAX as u64 {
        return Ok(size);
    }
    let mut rest = extra;
    while rest.len() >= 4 {
        let (id, len) = (u16::from_le_bytes([rest[0], rest[1]]), u16::from_le_bytes([rest[2], rest[3]]) as usize);
        let body = rest.get(4..4 + len).ok_or_else(|| error("a truncated zip64 field"))?;
        if id == 1 && body.len() >= 8 {
            return Ok(u64::from_le_bytes(body[..8].try_into().expect("8 bytes")));
        }
        rest = &rest[4 + len..];
    }
    Err(error("an entry of 4 GiB or more without its zip64 size"))
}

/// A tensor's bytes in its storage: its dtype as safetensors names it, and a copy of its
/// elements, which must be stored contiguously (row-major).
fn view(name: &str, t: &TensorRef, storage: &[u8]) -> Result<(Dtype, Vec<u8>), WeightsError> {
    let dtype = match t.dtype {
        StorageDtype::F32 => Dtype::F32,
        StorageDtype::F16 => Dtype::F16,
        StorageDtype::BF16 => Dtype::BF16,
        StorageDtype::F64 => Dtype::F64,
        StorageDtype::I64 => Dtype::I64,
        StorageDtype::I32 => Dtype::I32,
        StorageDtype::I16 => Dtype::I16,
        StorageDtype::I8 => Dtype::I8,
        StorageDtype::U8 => Dtype::U8,
        StorageDtype::Bool => Dtype::BOOL,
    };
    let width = t.dtype.bytes();
    if storage.len() as u64 != t.storage_len.saturating_mul(width as u64) {
        return Err(error(format!(
            "the storage of `{name}` holds {} bytes, not the {} elements data.pkl says",
            storage.len(),
            t.storage_len
        )));
    }
    let mut expected = 1usize;
    for (&size, &stride) in t.shape.iter().zip(&t.stride).rev() {
        if size > 1 && stride != expected {
            return Err(error(format!("tensor `{name}` is not stored contiguously (strides {:?}); save a contiguous copy", t.stride)));
        }
        expected = expected.checked_mul(size).ok_or_else(|| error(format!("tensor `{name}` is too large")))?;
    }
    let start = usize::try_from(t.offset).ok().and_then(|o| o.checked_mul(width));
    let range = start.and_then(|s| Some(s..s.checked_add(expected.checked_mul(width)?)?));
    match range {
        Some(range) if range.end <= storage.len() => Ok((dtype, storage[range].to_vec())),
        _ => Err(error(format!("tensor `{name}` lies outside its storage"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;
    use burn::tensor::Device;

    /// A zip of one stored entry of `size` zero bytes written as `torch.save` writes entries:
    /// sizes 0 in the local header, a data descriptor after the bytes; then the central
    /// directory's first header.
    fn described_entry(size: usize) -> Vec<u8> {
        let name = b"archive/extra.bin";
        let mut zip = LOCAL_HEADER.to_le_bytes().to_vec();
        zip.extend_from_slice(&[20, 0, 8, 0, 0, 0, 0, 0, 0, 0]); // version, flags (descriptor), method, time, date
        zip.extend_from_slice(&[0; 12]); // crc, compressed and real sizes: in the descriptor
        zip.extend_from_slice(&(name.len() as u16).to_le_bytes());
        zip.extend_from_slice(&[0, 0]);
        zip.extend_from_slice(name);
        zip.resize(zip.len() + size, 0);
        zip.extend_from_slice(DESCRIPTOR);
        zip.extend_from_slice(&[0; 4]);
        zip.extend_from_slice(&(size as u32).to_le_bytes());
        zip.extend_from_slice(&(size as u32).to_le_bytes());
        zip.extend_from_slice(&CENTRAL_HEADER.to_le_bytes());
        zip.resize(zip.len() + HEADER_BYTES - 4, 0);
        zip
    }

    /// An entry without sizes arriving in small chunks is searched once, not once per chunk:
    /// 16 MiB in 4 KiB chunks took minutes when each chunk searched everything before it.
    #[test]
    fn finding_an_entrys_end_is_linear_in_its_bytes() {
        let config = ModelConfig::from_json(br#"{"model_type":"gpt2","n_layer":1,"n_head":2,"n_embd":8}"#).unwrap();
        let mut stream = TorchZipStream::new(WeightLoader::new(&config, &Device::flex()));
        let zip = described_entry(16 << 20);
        let started = std::time::Instant::now();
        for chunk in zip.chunks(4096) {
            stream.push(chunk).unwrap();
        }
        assert!(matches!(stream.stage, Stage::Done), "the entry ended at its descriptor and the directory ended the entries");
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
        // A descriptor split across chunks is still found.
        let mut stream = TorchZipStream::new(WeightLoader::new(&config, &Device::flex()));
        let zip = described_entry(100);
        for chunk in zip.chunks(3) {
            stream.push(chunk).unwrap();
        }
        assert!(matches!(stream.stage, Stage::Done));
    }
}
