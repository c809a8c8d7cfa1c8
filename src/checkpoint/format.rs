//! A checkpoint's weights as a stream of chunks, whichever format they are in: safetensors,
//! or PyTorch's zip (`pytorch_model.bin`), told apart by the first bytes.

use super::{SafetensorsStream, TorchZipStream, WeightLoader, WeightsError};
use crate::model::LanguageModel;

/// Bytes that tell the formats apart.
const SNIFF_BYTES: usize = 4;
const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

/// What the file's name says it holds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Named {
    Safetensors,
    Torch,
    Unsaid,
}

enum State {
    /// Fewer than [`SNIFF_BYTES`] bytes seen; the file's size when known, and its name's format.
    Sniffing(WeightLoader, Vec<u8>, Option<u64>, Named),
    Safetensors(SafetensorsStream),
    TorchZip(Box<TorchZipStream>),
    /// Only while switching.
    Empty,
}

/// Feeds a [`WeightLoader`] from consecutive chunks of `model.safetensors` or `pytorch_model.bin`.
pub struct WeightsStream(State);

impl WeightsStream {
    pub fn new(loader: WeightLoader) -> Self {
        WeightsStream(State::Sniffing(loader, Vec::new(), None, Named::Unsaid))
    }

    /// Says what file is about to arrive: its name (whose format its bytes must be) and its
    /// size, when its source knows it (what a header says its tensors take is held to it
    /// before any is read).
    pub fn start_file(&mut self, name: &str, size: Option<u64>) {
        if let State::Sniffing(_, _, expected, named) = &mut self.0 {
            *expected = size;
            *named = match name {
                n if n.ends_with(".safetensors") => Named::Safetensors,
                n if n.ends_with(".bin") => Named::Torch,
                _ => Named::Unsaid,
            };
        }
    }

    /// Takes the next chunk of the file; loads every tensor it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), WeightsError> {
        match &mut self.0 {
            State::Safetensors(s) => s.push(chunk),
            State::TorchZip(z) => z.push(chunk),
            State::Sniffing(_, first, ..) if first.len() + chunk.len() < SNIFF_BYTES => {
                first.extend_from_slice(chunk);
                Ok(())
            }
            State::Empty => Err(WeightsError::Format("an earlier error ended this checkpoint's stream".into())),
            _ => {
                let State::Sniffing(loader, mut first, size, named) = std::mem::replace(&mut self.0, State::Empty) else {
                    unreachable!("every other state is matched above")
                };
                first.extend_from_slice(chunk);
                let zip = &first[..SNIFF_BYTES] == ZIP_MAGIC;
                if named == Named::Safetensors && zip {
                    return Err(WeightsError::Format("not a valid safetensors file: it is a zip archive (a PyTorch checkpoint?)".into()));
                }
                if named == Named::Torch && !zip && first[..2] != [0x80, 0x02] {
                    return Err(WeightsError::Format("not a valid PyTorch checkpoint: it does not begin as a zip archive does".into()));
                }
                self.0 = match &first[..SNIFF_BYTES] {
                    magic if magic == ZIP_MAGIC => State::TorchZip(Box::new(TorchZipStream::new(loader))),
                    // A pickle (protocol 2) opens the legacy format, before torch 1.6.
                    [0x80, 0x02, ..] => {
                        return Err(WeightsError::Format(
                            "this is a PyTorch checkpoint in the legacy format (torch < 1.6), which is not supported: \
                             save it again with a recent torch.save, or convert it to safetensors"
                                .into(),
                        ))
                    }
                    _ => State::Safetensors(SafetensorsStream::new(loader, size)),
                };
                self.push(&first)
            }
        }
    }

    /// The current file is complete; what follows is the next file of a sharded checkpoint,
    /// whose tensors go to the same model.
    pub fn next_file(&mut self) -> Result<(), WeightsError> {
        let current = WeightsStream(std::mem::replace(&mut self.0, State::Empty));
        self.0 = State::Sniffing(current.end_of_file()?, Vec::new(), None, Named::Unsaid);
        Ok(())
    }

    /// The loaded model, once the whole file has arrived.
    pub fn finish(self) -> Result<LanguageModel, WeightsError> {
        self.end_of_file()?.finish()
    }

    /// The loader, once the whole file has arrived, for the next file of a sharded checkpoint.
    pub fn end_of_file(self) -> Result<WeightLoader, WeightsError> {
        match self.0 {
            State::Safetensors(s) => s.end_of_file(),
            State::TorchZip(z) => z.end_of_file(),
            State::Sniffing(..) | State::Empty => Err(WeightsError::Format("the file is empty or ends within its first bytes".into())),
        }
    }
}
