//! `pytorch_model.bin` (PyTorch's zip format) loads through the restricted unpickler: the
//! fixtures stored as the Hub stores them (pickle only) score like the reference (parity.rs
//! runs them), and hostile or broken files — globals no tensor checkpoint uses, a reduce of
//! `os.system`, truncated or compressed archives, storages of the wrong size, the legacy
//! format, random damage — each give a clear error, never a panic and never execution.

use crate::common;

use burn::tensor::Device;
use invscale::checkpoint::{WeightLoader, WeightsStream};
use invscale::model::{LanguageModel, ModelConfig};
use proptest::prelude::*;

/// The fixture OPT as published: only pytorch_model.bin.
fn fixture() -> (ModelConfig, Vec<u8>) {
    let dir = common::fixtures().join("models/tiny-opt");
    let config = ModelConfig::from_json(&common::read(dir.join("config.json"))).unwrap();
    (config, common::read(dir.join("pytorch_model.bin")))
}

fn load(config: &ModelConfig, bytes: &[u8], chunk: usize) -> Result<LanguageModel, String> {
    let mut stream = WeightsStream::new(WeightLoader::new(config, &Device::flex()));
    for piece in bytes.chunks(chunk.max(1)) {
        stream.push(piece).map_err(|e| e.to_string())?;
    }
    stream.finish().map_err(|e| e.to_string())
}

/// `(name, data)` of each stored entry of a zip, read from its local headers; an entry whose
/// size follows it (as `torch.save` writes them) ends at its data descriptor.
pub(crate) fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while zip[at..].starts_with(b"PK\x03\x04") {
        let u16_at = |i: usize| u16::from_le_bytes([zip[at + i], zip[at + i + 1]]) as usize;
        let u32_at = |i: usize| u32::from_le_bytes(zip[i..i + 4].try_into().unwrap()) as usize;
        let (name_len, extra_len) = (u16_at(26), u16_at(28));
        let name = String::from_utf8(zip[at + 30..at + 30 + name_len].to_vec()).unwrap();
        let start = at + 30 + name_len + extra_len;
        let (size, trailer) = match u32_at(at + 22) {
            0 if u16_at(6) & 8 != 0 => {
                let size = (start..zip.len() - 16)
                    .find(|&d| &zip[d..d + 4] == b"PK\x07\x08" && u32_at(d + 8) == d - start && u32_at(d + 12) == d - start)
                    .unwrap()
                    - start;
                (size, 16)
            }
            size => (size, 0),
        };
        out.push((name, zip[start..start + size].to_vec()));
        at = start + size + trailer;
    }
    out
}

/// A zip of stored entries with its central directory, as any zip writer makes it.
pub(crate) fn zip_of(entries: &[(String, Vec<u8>)], method: u16) -> Vec<u8> {
    zip_written(entries, method, false)
}

/// A zip of stored entries as `torch.save` writes it: each local header with no sizes (flag
/// bit 3), the entry's size in a data descriptor after its bytes, then the central directory.
pub(crate) fn zip_with_descriptors(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    zip_written(entries, 0, true)
}

fn zip_written(entries: &[(String, Vec<u8>)], method: u16, descriptors: bool) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in entries {
        let offset = out.len() as u32;
        let size = (data.len() as u32).to_le_bytes();
        let header = |sig: &[u8], out: &mut Vec<u8>, central: bool| {
            out.extend_from_slice(sig);
            if central {
                out.extend_from_slice(&20u16.to_le_bytes()); // made by
            }
            out.extend_from_slice(&20u16.to_le_bytes()); // needed
            out.extend_from_slice(&(if descriptors { 8u16 } else { 0 }).to_le_bytes()); // flags
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 4]); // time, date
            out.extend_from_slice(&0u32.to_le_bytes()); // crc (not checked by the reader)
            let in_descriptor = descriptors && !central;
            out.extend_from_slice(if in_descriptor { &[0; 4] } else { &size });
            out.extend_from_slice(if in_descriptor { &[0; 4] } else { &size });
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                out.extend_from_slice(&[0; 8]); // comment, disk, internal attributes
                out.extend_from_slice(&0u32.to_le_bytes()); // external attributes
                out.extend_from_slice(&offset.to_le_bytes());
            }
            out.extend_from_slice(name.as_bytes());
        };
        header(b"PK\x03\x04", &mut out, false);
        out.extend_from_slice(data);
        if descriptors {
            out.extend_from_slice(b"PK\x07\x08");
            out.extend_from_slice(&[0; 4]); // crc
            out.extend_from_slice(&size);
            out.extend_from_slice(&size);
        }
        header(b"PK\x01\x02", &mut central, true);
    }
    let (start, len) = (out.len() as u32, central.len() as u32);
    out.extend_from_slice(&central);
    out.extend_from_slice(b"PK\x05\x06");
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// The fixture with its `data.pkl` replaced.
fn with_pickle(pickle: &[u8]) -> Vec<u8> {
    let (_, bytes) = fixture();
    let mut files = entries(&bytes);
    files.iter_mut().find(|(name, _)| name.ends_with("/data.pkl")).unwrap().1 = pickle.to_vec();
    zip_of(&files, 0)
}

#[test]
fn a_pickle_checkpoint_loads_in_any_chunks_and_equals_itself_rewritten() {
    let (config, bytes) = fixture();
    let names: Vec<String> = entries(&bytes).into_iter().map(|(n, _)| n).collect();
    assert!(names[0].ends_with("/data.pkl") && names.iter().any(|n| n.ends_with("/data/0")), "{names:?}");
    let whole = load(&config, &bytes, bytes.len()).unwrap();
    let ids = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(vec![5i32, 9, 2000, 7], [1, 4]),
        &Device::flex(),
    );
    let logits = |m: &LanguageModel| m.logits(m.hidden_states(ids.clone()).reshape([4, 8])).into_data().try_into_vec::<f32>().unwrap();
    let expected = logits(&whole);
    // 7-byte chunks split every header and field.
    for chunk in [7, 30, 4096] {
        assert_eq!(logits(&load(&config, &bytes, chunk).unwrap()), expected, "chunks of {chunk}");
    }
    // The same entries written by another zip writer (no alignment padding).
    assert_eq!(logits(&load(&config, &zip_of(&entries(&bytes), 0), 4096).unwrap()), expected);
}

#[test]
fn unknown_globals_are_refused_by_name_and_nothing_runs() {
    let (config, _) = fixture();
    let marker = std::env::temp_dir().join(format!("invscale-pwned-{}", std::process::id()));
    let command = format!("touch {}", marker.display());
    // A reduce of os.system (protocol 0), as a malicious checkpoint carries it.
    let evil = format!("cos\nsystem\n(S'{command}'\ntR.");
    let e = load(&config, &with_pickle(evil.as_bytes()), 4096).err().unwrap();
    assert!(e.contains("`os.system`") && e.contains("refused"), "{e}");
    // builtins.exec by STACK_GLOBAL (protocol 4), and a harmless-looking global no checkpoint needs.
    for (pickle, global) in [
        (&b"\x80\x04\x8c\x08builtins\x8c\x04exec\x93\x8c\x05print\x85R."[..], "builtins.exec"),
        (b"\x80\x02ctorch\nload\nq\x00.", "torch.load"),
        (b"\x80\x02c__builtin__\nset\nq\x00.", "__builtin__.set"),
    ] {
        let e = load(&config, &with_pickle(pickle), 4096).err().unwrap();
        assert!(e.contains(&format!("`{global}`")), "{e}");
    }
    assert!(!marker.exists(), "the command ran");
}

#[test]
fn broken_archives_are_clear_errors() {
    let (config, bytes) = fixture();
    // Cut anywhere before the last entry's end: inside a header, the pickle, a storage.
    let end = bytes.windows(4).rposition(|w| w == b"PK\x05\x06").unwrap();
    let central = u32::from_le_bytes(bytes[end + 16..end + 20].try_into().unwrap()) as usize;
    for cut in [3, 10, 40, 200, 4000, bytes.len() / 2, central - 20] {
        let e = load(&config, &bytes[..cut], 4096).err().unwrap_or_else(|| panic!("cut at {cut} loaded"));
        assert!(e.starts_with("not a valid PyTorch checkpoint: ") || e.contains("ends"), "cut at {cut}: {e}");
    }
    // The central directory is not read: every tensor is there before it.
    assert!(load(&config, &bytes[..bytes.len() - 30], 4096).is_ok());
    // A storage shorter than data.pkl says.
    let mut files = entries(&bytes);
    files.iter_mut().find(|(name, _)| name.ends_with("/data/0")).unwrap().1.truncate(8);
    let e = load(&config, &zip_of(&files, 0), 4096).err().unwrap();
    assert!(e.contains("holds 8 bytes, not the"), "{e}");
    // Compressed entries (a zip written by another tool).
    let e = load(&config, &zip_of(&entries(&bytes), 8), 4096).err().unwrap();
    assert!(e.contains("compressed"), "{e}");
    // The legacy format (torch < 1.6): a bare pickle.
    let e = load(&config, b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.", 4096).err().unwrap();
    assert!(e.contains("legacy format"), "{e}");
    // A state dict without a storage's entry.
    let files: Vec<_> = entries(&bytes).into_iter().filter(|(name, _)| !name.ends_with("/data/3")).collect();
    let e = load(&config, &zip_of(&files, 0), 4096).err().unwrap();
    assert!(e.contains("ends before the storage of tensor"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Random damage to the pickle or the archive loads or errs, never panics.
    #[test]
    fn damaged_checkpoints_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), in_pickle in any::<bool>()) {
        let (config, bytes) = fixture();
        let damaged = if in_pickle {
            let mut files = entries(&bytes);
            let pickle = &mut files.iter_mut().find(|(name, _)| name.ends_with("/data.pkl")).unwrap().1;
            for (at, byte) in &edits {
                let i = at.index(pickle.len());
                pickle[i] = *byte;
            }
            zip_of(&files, 0)
        } else {
            let mut damaged = bytes.clone();
            for (at, byte) in &edits {
                let i = at.index(damaged.len().min(4096)); // headers and the pickle lie in the first 4 KiB
                damaged[i] = *byte;
            }
            damaged
        };
        let _ = load(&config, &damaged, 4096);
    }
}
