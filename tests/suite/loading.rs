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
    let e = load(&dir).err().unwrap();
    assert!(e.starts_with("model.safetensors: not a valid safetensors file: the file ends in the middle of tensor `"), "{e}");
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
