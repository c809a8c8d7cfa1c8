//! One loading path: a model folder as the CLI, the page's workers and these tests read it
//! (`checkpoint::load`), and errors that name the file at fault, asserted whole.

use crate::common;

use std::path::PathBuf;

use burn::tensor::Device;
use invscale::checkpoint::{self, Folder, Progress};
use invscale::model::Precision;

/// A copy of fixture model `name` in a fresh folder, with `replace`'s files written over (or,
/// for `None`, removed).
fn folder_like(name: &str, test: &str, replace: &[(&str, Option<Vec<u8>>)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("invscale-loading-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(common::fixtures().join("models").join(name)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    for (file, bytes) in replace {
        match bytes {
            Some(bytes) => std::fs::write(dir.join(file), bytes).unwrap(),
            None => std::fs::remove_file(dir.join(file)).unwrap(),
        }
    }
    dir
}

fn load(dir: &PathBuf) -> Result<checkpoint::Checkpoint, String> {
    pollster::block_on(checkpoint::load(&Folder::new(dir), &Device::flex(), Precision::F32, |_| {})).map_err(|e| e.to_string())
}

#[test]
fn a_folder_loads_with_the_files_it_was_read_from_and_its_progress() {
    let dir = common::fixtures().join("models/tiny-opt");
    let mut seen: Vec<(String, u64, Option<u64>)> = Vec::new();
    let progress = |p: Progress<'_>| seen.push((p.file.to_string(), p.loaded, p.total));
    let loaded = pollster::block_on(checkpoint::load(&Folder::new(&dir), &Device::flex(), Precision::F32, progress)).unwrap();
    assert_eq!(loaded.files, ["config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "pytorch_model.bin"]);
    let size = std::fs::metadata(dir.join("pytorch_model.bin")).unwrap().len();
    assert_eq!(seen.last().unwrap(), &("pytorch_model.bin".to_string(), size, Some(size)));
}

#[test]
fn a_broken_pytorch_checkpoint_names_its_own_file() {
    let bin = common::read(common::fixtures().join("models/tiny-opt/pytorch_model.bin"));
    let compressed = crate::torch_checkpoints::zip_of(&crate::torch_checkpoints::entries(&bin), 8);
    let dir = folder_like("tiny-opt", "bin", &[("pytorch_model.bin", Some(compressed))]);
    assert_eq!(
        load(&dir).err().unwrap(),
        "pytorch_model.bin: not a valid PyTorch checkpoint: an entry is compressed; PyTorch checkpoints store their entries \
         uncompressed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_safetensors_file_names_its_own_file() {
    let weights = common::read(common::fixtures().join("models/tiny-hub/model.safetensors"));
    let dir = folder_like("tiny-hub", "safetensors", &[("model.safetensors", Some(weights[..weights.len() - 1].to_vec()))]);
    // The header is held to the file's size before any tensor is read.
    let data = weights.len() as u64 - 8 - u64::from_le_bytes(weights[..8].try_into().unwrap());
    assert_eq!(
        load(&dir).err().unwrap(),
        format!("model.safetensors: not a valid safetensors file: its header's tensors take {data} bytes, but the file holds {} after its header", data - 1)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_folder_without_weights_says_what_a_model_folder_holds() {
    let dir = folder_like("tiny-hub", "no-weights", &[("model.safetensors", None)]);
    assert_eq!(
        load(&dir).err().unwrap(),
        "it has no model.safetensors: a model folder holds config.json, a tokenizer (tokenizer.json, or vocab.json and merges.txt) \
         and weights (model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_config_is_named_once() {
    let dir = folder_like("tiny-hub", "config", &[("config.json", Some(b"{\"model_type\": \"gpt2\", \"n_embd\": 8}".to_vec()))]);
    assert_eq!(load(&dir).err().unwrap(), "config.json: missing field `n_layer`");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Logits of a few tokens, to compare two loads of one model.
fn logits(checkpoint: &checkpoint::Checkpoint) -> Vec<f32> {
    let ids = burn::tensor::Tensor::<2, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(vec![5i32, 9, 2000, 7], [1, 4]),
        &Device::flex(),
    );
    let m = &checkpoint.model;
    m.logits(m.hidden_states(ids).reshape([4, 8])).into_data().try_into_vec::<f32>().unwrap()
}

#[test]
fn a_neox_head_saved_as_lm_head_is_read_as_embed_out() {
    let bytes = common::read(common::fixtures().join("models/tiny-neox/model.safetensors"));
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let renamed = |name: &str| if name == "embed_out.weight" { "lm_head.weight".to_string() } else { name.to_string() };
    let views: Vec<_> = tensors.tensors().into_iter().map(|(name, view)| (renamed(&name), view)).collect();
    let dir = folder_like("tiny-neox", "lm-head", &[("model.safetensors", Some(safetensors::serialize(views, None).unwrap()))]);
    let original = common::checkpoint("tiny-neox", &Device::flex());
    assert_eq!(logits(&load(&dir).unwrap()), logits(&original));

    // Both names at once: one head too many.
    let mut views: Vec<_> = tensors.tensors();
    let head = views.iter().find(|(name, _)| name == "embed_out.weight").unwrap().1.clone();
    views.push(("lm_head.weight".to_string(), head));
    std::fs::write(dir.join("model.safetensors"), safetensors::serialize(views, None).unwrap()).unwrap();
    assert_eq!(load(&dir).err().unwrap(), "model.safetensors: tensor `lm_head.weight` is a second copy of `embed_out.weight`");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A token id beyond the embedding's rows is refused as the model loads, naming the file, the
/// token and the id (scoring it would read past the matrix), though the count of tokens fits.
#[test]
fn a_token_id_beyond_the_embedding_is_refused_naming_it() {
    let mut json: serde_json::Value =
        serde_json::from_slice(&common::read(common::fixtures().join("models/tiny-hub/tokenizer.json"))).unwrap();
    json["model"]["vocab"]["hello"] = 99_999.into();
    let dir = folder_like("tiny-hub", "token-id", &[("tokenizer.json", Some(serde_json::to_vec(&json).unwrap()))]);
    assert_eq!(
        load(&dir).err().unwrap(),
        "tokenizer.json: token `hello` has id 99999, beyond the embedding's 50257 rows (config.json's vocab_size)"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `model.safetensors` of tiny-hub with every element of tensor `name` set to `value`.
fn safetensors_with(name: &str, value: f32) -> Vec<u8> {
    let mut bytes = common::read(common::fixtures().join("models/tiny-hub/model.safetensors"));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let offsets = &header[name]["data_offsets"];
    let (start, end) = (8 + n + offsets[0].as_u64().unwrap() as usize, 8 + n + offsets[1].as_u64().unwrap() as usize);
    for element in bytes[start..end].chunks_exact_mut(4) {
        element.copy_from_slice(&value.to_le_bytes());
    }
    bytes
}

/// NaN or infinity in a weight is refused as it streams in, naming the tensor; weights that
/// are finite but overflow the arithmetic stop the run at the first example they spoil, never
/// scoring NaN (which would win every comparison and count as correct).
#[test]
fn non_finite_weights_and_log_probs_are_refused() {
    for (value, test) in [(f32::NAN, "nan"), (f32::INFINITY, "inf")] {
        let dir = folder_like("tiny-hub", test, &[("model.safetensors", Some(safetensors_with("h.1.attn.c_attn.weight", value)))]);
        assert_eq!(
            load(&dir).err().unwrap(),
            "model.safetensors: tensor `h.1.attn.c_attn.weight` holds a non-finite value (NaN or infinity) at element 0"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    let dir = folder_like("tiny-hub", "overflow", &[("model.safetensors", Some(safetensors_with("ln_f.weight", f32::MAX / 2.0)))]);
    let checkpoint = load(&dir).unwrap();
    let task = invscale::task::parse_task(&common::read(common::fixtures().join("tasks/classification.csv")), None).unwrap();
    let run = pollster::block_on(invscale::run::run_task(&checkpoint, &task, Default::default(), |_, _| invscale::run::Control::Continue));
    // The first pass to finish names its first example (passes hold examples of one shape).
    let e = run.err().unwrap().to_string();
    let (example, rest) = e.split_once(": ").unwrap();
    assert!(example.strip_prefix("example ").unwrap().parse::<usize>().unwrap() < task.examples.len(), "{e}");
    assert_eq!(rest, "the model gave a log-prob that is not a finite number (its weights or the device's arithmetic overflowed)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Only regular files are read, and a JSON or text file only up to a size no real one comes
/// near: a named pipe (which would block), a directory, a symlink loop, a huge sparse file
/// each end the load at once, naming the file.
#[cfg(unix)]
#[test]
fn only_regular_files_of_bounded_size_are_read() {
    let dir = folder_like("tiny-hub", "special-files", &[("config.json", None)]);
    let config = dir.join("config.json");
    let load_with = |make: &dyn Fn()| {
        let _ = std::fs::remove_file(&config).or_else(|_| std::fs::remove_dir(&config));
        make();
        let started = std::time::Instant::now();
        let e = load(&dir).err().unwrap();
        assert!(started.elapsed().as_secs() < 5, "{e}: took {:?}", started.elapsed());
        e
    };
    let fifo = || assert!(std::process::Command::new("mkfifo").arg(&config).status().unwrap().success());
    assert_eq!(load_with(&fifo), "config.json: not a regular file (a named pipe)");
    assert_eq!(load_with(&|| std::fs::create_dir(&config).unwrap()), "config.json: not a regular file (a directory)");
    let looped = || std::os::unix::fs::symlink("config.json", &config).unwrap();
    assert_eq!(load_with(&looped), "config.json: Too many levels of symbolic links (os error 40)");
    let sparse = || std::fs::File::create(&config).unwrap().set_len(4 << 30).unwrap();
    assert_eq!(load_with(&sparse), "config.json: holds more than 64 MiB; no model's JSON or text file comes near");
    let device = || std::os::unix::fs::symlink("/dev/zero", &config).unwrap();
    assert_eq!(load_with(&device), "config.json: not a regular file (a device)");
    let _ = std::fs::remove_file(&config);
    let _ = std::fs::remove_dir_all(&dir);
}

/// tiny-hub's `model.safetensors` with `edit` applied to its header (the tensors' data kept).
fn safetensors_with_header(edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> Vec<u8> {
    let bytes = common::read(common::fixtures().join("models/tiny-hub/model.safetensors"));
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    edit(&mut header);
    let header = serde_json::to_vec(&header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

/// A header that claims tensors the file does not hold (a 640 GB buffer the model ignores, or
/// a model tensor grown past the file's end) is refused before any of their bytes is reserved:
/// this aborted with "memory allocation of 640000000000 bytes failed".
#[test]
fn a_header_claiming_more_than_the_file_holds_reserves_nothing() {
    let end = |h: &serde_json::Map<String, serde_json::Value>| h.values().filter_map(|t| t["data_offsets"][1].as_u64()).max().unwrap();
    let held = {
        let bytes = common::read(common::fixtures().join("models/tiny-hub/model.safetensors"));
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
        bytes.len() as u64 - 8 - n
    };
    let huge = 400_000u64 * 400_000 * 4;
    let buffer = safetensors_with_header(|h| {
        let start = end(h);
        h.insert(
            "h.1.attn.bias".into(),
            serde_json::json!({ "dtype": "F32", "shape": [400_000, 400_000], "data_offsets": [start, start + huge] }),
        );
    });
    // The embedding claims 640 GB; the tensors after it move along.
    let grown = safetensors_with_header(|h| {
        let [start, old_end] = [0, 1].map(|i| h["wte.weight"]["data_offsets"][i].as_u64().unwrap());
        let grow = start + huge - old_end;
        for tensor in h.values_mut().filter(|t| t["data_offsets"][0].as_u64().is_some_and(|s| s >= old_end)) {
            for i in 0..2 {
                tensor["data_offsets"][i] = (tensor["data_offsets"][i].as_u64().unwrap() + grow).into();
            }
        }
        h["wte.weight"]["shape"] = serde_json::json!([400_000, 400_000]);
        h["wte.weight"]["data_offsets"][1] = (start + huge).into();
    });
    for (test, file) in [("buffer", buffer), ("grown", grown)] {
        let dir = folder_like("tiny-hub", test, &[("model.safetensors", Some(file))]);
        let e = load(&dir).err().unwrap();
        let (takes, holds) = e
            .strip_prefix("model.safetensors: not a valid safetensors file: its header's tensors take ")
            .and_then(|rest| rest.split_once(" bytes, but the file holds "))
            .unwrap_or_else(|| panic!("{test}: {e}"));
        assert!(takes.parse::<u64>().unwrap() > huge && holds == format!("{held} after its header"), "{test}: {e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A file's bytes must be the format its name says: random bytes in `pytorch_model.bin` were
/// read as a safetensors header, and a zip named `model.safetensors` as a PyTorch checkpoint.
#[test]
fn a_weights_file_is_read_as_the_format_its_name_says() {
    let random: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let dir = folder_like("tiny-opt", "random-bin", &[("pytorch_model.bin", Some(random))]);
    assert_eq!(load(&dir).err().unwrap(), "pytorch_model.bin: not a valid PyTorch checkpoint: it does not begin as a zip archive does");
    let _ = std::fs::remove_dir_all(&dir);
    let zip = common::read(common::fixtures().join("models/tiny-opt/pytorch_model.bin"));
    let dir = folder_like("tiny-hub", "zip-named-safetensors", &[("model.safetensors", Some(zip))]);
    assert_eq!(load(&dir).err().unwrap(), "model.safetensors: not a valid safetensors file: it is a zip archive (a PyTorch checkpoint?)");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tensor whose offsets do not follow the one before it, or do not span its shape, is named.
#[test]
fn a_header_whose_offsets_are_wrong_names_the_tensor() {
    let (mut start, mut end) = (0, 0);
    let gap = safetensors_with_header(|h| {
        [start, end] = [0, 1].map(|i| h["ln_f.weight"]["data_offsets"][i].as_u64().unwrap());
        h["ln_f.weight"]["data_offsets"][1] = (end + 4).into();
    });
    let dir = folder_like("tiny-hub", "offsets", &[("model.safetensors", Some(gap))]);
    assert_eq!(
        load(&dir).err().unwrap(),
        format!(
            "model.safetensors: not a valid safetensors file: tensor `ln_f.weight` of shape [8] and dtype F32 takes bytes {start}..{}, \
             which is not its size",
            end + 4
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Tokenizer faults are blamed on the tokenizer file that has them: an empty vocabulary (every
/// text failed to tokenize, blamed on the task), a merge of tokens `vocab.json` lacks (blamed on
/// `vocab.json`).
#[test]
fn tokenizer_faults_name_their_own_file() {
    let mut json: serde_json::Value =
        serde_json::from_slice(&common::read(common::fixtures().join("models/tiny-hub/tokenizer.json"))).unwrap();
    json["model"]["vocab"] = serde_json::json!({});
    json["model"]["merges"] = serde_json::json!([]);
    json["added_tokens"] = serde_json::json!([]);
    let dir = folder_like("tiny-hub", "empty-vocab", &[("tokenizer.json", Some(serde_json::to_vec(&json).unwrap()))]);
    assert_eq!(load(&dir).err().unwrap(), "tokenizer.json is not a valid tokenizer file: its vocabulary is empty");
    let _ = std::fs::remove_dir_all(&dir);
    let merges = common::read(common::fixtures().join("models/tiny-opt/merges.txt"));
    let mut merges = String::from_utf8(merges).unwrap();
    merges.push_str("zqx9 qq7\n");
    let lines = merges.lines().count();
    let dir = folder_like("tiny-opt", "bad-merge", &[("merges.txt", Some(merges.into_bytes()))]);
    assert_eq!(
        load(&dir).err().unwrap(),
        format!("merges.txt is not a valid tokenizer file: line {lines}: merges into or from `zqx9`, which vocab.json does not have")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
