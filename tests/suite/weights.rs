//! Checkpoint variants seen on the Hub load to the same model, and a wrong or missing tensor
//! is an error naming it and the expected shape. Uses small in-memory safetensors files.

use burn::tensor::{Device, Int, Tensor, TensorData};
use invscale::checkpoint::load_safetensors;
use invscale::model::{Gpt2, LanguageModel, ModelConfig, Sizes};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

pub(crate) fn config() -> ModelConfig {
    ModelConfig::from_json(br#"{"n_layer":2,"n_head":2,"n_embd":4,"n_positions":8,"vocab_size":11}"#).unwrap()
}

/// The GPT-2 network inside a loaded model.
fn gpt2(model: &LanguageModel) -> &Gpt2 {
    match model {
        LanguageModel::Gpt2(m) => m,
        other => panic!("not GPT-2: {other:?}"),
    }
}

/// `(name, shape)` of every parameter, with Hub names.
fn parameters(c: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let c: &Sizes = c.sizes();
    let e = c.n_embd;
    let mut out = vec![("wte.weight".to_string(), vec![c.vocab_size, e]), ("wpe.weight".to_string(), vec![c.n_positions, e])];
    for i in 0..c.n_layer {
        for (part, shape_w, shape_b) in [
            ("ln_1", vec![e], vec![e]),
            ("attn.c_attn", vec![e, 3 * e], vec![3 * e]),
            ("attn.c_proj", vec![e, e], vec![e]),
            ("ln_2", vec![e], vec![e]),
            ("mlp.c_fc", vec![e, 4 * e], vec![4 * e]),
            ("mlp.c_proj", vec![4 * e, e], vec![e]),
        ] {
            out.push((format!("h.{i}.{part}.weight"), shape_w));
            out.push((format!("h.{i}.{part}.bias"), shape_b));
        }
    }
    out.push(("ln_f.weight".into(), vec![e]));
    out.push(("ln_f.bias".into(), vec![e]));
    out
}

/// Deterministic values that differ per tensor and per element.
fn values(seed: usize, n: usize) -> Vec<f32> {
    (0..n).map(|i| (((seed * 7919 + i * 104729) % 1000) as f32 / 500.0 - 1.0) * 0.7).collect()
}

#[derive(Clone, Copy)]
pub(crate) struct Variant {
    prefix: bool,
    f16: bool,
    bf16: bool,
    lm_head: bool,
    buffers: bool,
}

pub(crate) fn checkpoint(v: Variant, edit: impl Fn(&mut Vec<(String, Vec<usize>, Vec<f32>)>)) -> Vec<u8> {
    let c = config();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = parameters(&c)
        .into_iter()
        .enumerate()
        .map(|(i, (name, shape))| {
            let n = shape.iter().product();
            (name, shape, values(i, n))
        })
        .collect();
    if v.lm_head {
        let wte = tensors[0].2.clone();
        tensors.push(("lm_head.weight".into(), vec![c.sizes().vocab_size, c.sizes().n_embd], wte));
    }
    if v.buffers {
        tensors.push(("h.0.attn.masked_bias".into(), vec![], vec![-1e4]));
        tensors.push(("h.1.attn.bias".into(), vec![1, 1, 8, 8], vec![1.0; 64]));
    }
    edit(&mut tensors);
    let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, shape, data)| {
            let bytes = if v.f16 {
                data.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect()
            } else if v.bf16 {
                data.iter().flat_map(|x| half::bf16::from_f32(*x).to_le_bytes()).collect()
            } else {
                data.iter().flat_map(|x| x.to_le_bytes()).collect()
            };
            let name = if v.prefix && name != "lm_head.weight" { format!("transformer.{name}") } else { name };
            (name, shape, bytes)
        })
        .collect();
    let dtype = if v.f16 {
        Dtype::F16
    } else if v.bf16 {
        Dtype::BF16
    } else {
        Dtype::F32
    };
    let views: Vec<(String, TensorView)> =
        encoded.iter().map(|(name, shape, bytes)| (name.clone(), TensorView::new(dtype, shape.clone(), bytes).unwrap())).collect();
    safetensors::serialize(views, None).unwrap()
}

pub(crate) const PLAIN: Variant = Variant { prefix: false, f16: false, bf16: false, lm_head: false, buffers: false };

fn next_token_logprobs(model: &LanguageModel) -> Vec<f32> {
    let device = Device::flex();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1i32, 5, 3, 9], [1, 4]), &device);
    let hidden = model.hidden_states(ids).reshape([4, 4]);
    let targets = Tensor::<2, Int>::from_data(TensorData::new((0..4 * 11i32).map(|i| i % 11).collect::<Vec<_>>(), [4, 11]), &device);
    model.target_logprobs(hidden, targets).into_data().try_into_vec::<f32>().unwrap()
}

#[test]
fn hub_variants_load_to_the_same_model() {
    let device = Device::flex();
    let c = config();
    let plain = next_token_logprobs(&load_safetensors(&c, &checkpoint(PLAIN, |_| {}), &device).unwrap());
    let variant = Variant { prefix: true, lm_head: true, buffers: true, ..PLAIN };
    let other = next_token_logprobs(&load_safetensors(&c, &checkpoint(variant, |_| {}), &device).unwrap());
    assert_eq!(plain, other);
    // F16 storage rounds the weights: close, not equal.
    let half = next_token_logprobs(&load_safetensors(&c, &checkpoint(Variant { f16: true, ..PLAIN }, |_| {}), &device).unwrap());
    let worst = plain.iter().zip(&half).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst > 0.0 && worst < 0.05, "f16 deviation {worst}");
    // Each row is a distribution over the 11-token vocabulary.
    for row in plain.chunks(11) {
        let total: f32 = row.iter().map(|lp| lp.exp()).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
    }
}

#[test]
fn untied_head_is_used() {
    let device = Device::flex();
    let c = config();
    let tied = next_token_logprobs(&load_safetensors(&c, &checkpoint(PLAIN, |_| {}), &device).unwrap());
    let untied = checkpoint(Variant { lm_head: true, ..PLAIN }, |t| {
        let head = t.iter_mut().find(|(n, ..)| n == "lm_head.weight").unwrap();
        head.2.iter_mut().for_each(|x| *x = -*x);
    });
    let untied = next_token_logprobs(&load_safetensors(&c, &untied, &device).unwrap());
    assert_ne!(tied, untied);
}

#[test]
fn wrong_shape_names_tensor_and_expected_shape() {
    let bytes = checkpoint(PLAIN, |t| {
        let proj = t.iter_mut().find(|(n, ..)| n == "h.1.mlp.c_proj.weight").unwrap();
        proj.1 = vec![4, 16]; // transposed
    });
    let e = load_safetensors(&config(), &bytes, &Device::flex()).err().unwrap().to_string();
    assert_eq!(e, "tensor `h.1.mlp.c_proj.weight` has shape [4, 16], expected [16, 4] for this config.json");
}

#[test]
fn missing_tensors_are_listed() {
    let bytes = checkpoint(PLAIN, |t| t.retain(|(n, ..)| n != "h.0.ln_2.bias" && n != "wpe.weight"));
    let e = load_safetensors(&config(), &bytes, &Device::flex()).err().unwrap().to_string();
    assert_eq!(e, "the checkpoint lacks 2 tensor(s): wpe.weight, h.0.ln_2.bias");
}

#[test]
fn unknown_tensor_and_layer_out_of_range() {
    let bytes = checkpoint(PLAIN, |t| t.push(("h.2.ln_1.weight".into(), vec![4], vec![1.0; 4])));
    let e = load_safetensors(&config(), &bytes, &Device::flex()).err().unwrap().to_string();
    assert_eq!(e, "tensor `h.2.ln_1.weight` is not part of a GPT-2 checkpoint");
}

#[test]
fn unsupported_dtype_and_garbage() {
    let bytes = checkpoint(PLAIN, |_| {});
    let e = load_safetensors(&config(), &bytes[..100], &Device::flex()).err().unwrap().to_string();
    assert_eq!(e, "not a valid safetensors file: the file ends inside its header");
    let ints = vec![0u8; 4 * 4];
    let views = vec![("ln_f.weight".to_string(), TensorView::new(Dtype::I32, vec![4], &ints).unwrap())];
    let bytes = safetensors::serialize(views, None).unwrap();
    let e = load_safetensors(&config(), &bytes, &Device::flex()).err().unwrap().to_string();
    assert_eq!(e, "tensor `ln_f.weight` has dtype I32; supported: F32, F16, BF16");
}

#[test]
fn streamed_in_any_chunks_equals_whole_file() {
    use invscale::checkpoint::{SafetensorsStream, WeightLoader};
    let c = config();
    let device = Device::flex();
    let bytes = checkpoint(Variant { buffers: true, ..PLAIN }, |_| {});
    let whole = next_token_logprobs(&load_safetensors(&c, &bytes, &device).unwrap());
    // Chunk sizes that split the header length, the header and tensors at every kind of place.
    for chunk in [1, 3, 7, 8, 64, 1000, bytes.len()] {
        let mut stream = SafetensorsStream::new(WeightLoader::new(&c, &device), None);
        for piece in bytes.chunks(chunk) {
            stream.push(piece).unwrap();
        }
        assert_eq!(next_token_logprobs(&stream.finish().unwrap()), whole, "chunks of {chunk} bytes");
    }
}

#[test]
fn vocabulary_matrices_streamed_in_row_blocks_equal_whole_ones() {
    use invscale::checkpoint::{SafetensorsStream, WeightLoader};
    let c = config();
    let device = Device::flex();
    for variant in [PLAIN, Variant { lm_head: true, ..PLAIN }, Variant { f16: true, ..PLAIN }] {
        let bytes = checkpoint(variant, |t| {
            // An untied head that differs from wte, so each matrix is checked on its own.
            if let Some(head) = t.iter_mut().find(|(n, ..)| n == "lm_head.weight") {
                head.2.iter_mut().for_each(|x| *x *= -0.5);
            }
        });
        let whole = load_safetensors(&c, &bytes, &device).unwrap();
        assert_eq!(gpt2(&whole).wte.blocks.len(), 1);
        for chunk in [5, 64, bytes.len()] {
            // 11 rows in blocks of 3: three whole blocks and a short one.
            let mut stream = SafetensorsStream::new(WeightLoader::new(&c, &device).with_block_rows(3), None);
            for piece in bytes.chunks(chunk) {
                stream.push(piece).unwrap();
            }
            let blocked = stream.finish().unwrap();
            let rows: Vec<usize> = gpt2(&blocked).wte.blocks.iter().map(|b| b.dims()[0]).collect();
            assert_eq!(rows, [3, 3, 3, 2]);
            assert_eq!(gpt2(&blocked).lm_head.as_ref().map(|h| h.blocks.len()), gpt2(&whole).lm_head.as_ref().map(|_| 4));
            assert_eq!(next_token_logprobs(&blocked), next_token_logprobs(&whole), "chunks of {chunk} bytes");
        }
    }
    // A wrong shape is refused at the first block, naming the tensor.
    let bytes = checkpoint(PLAIN, |t| t[0].1 = vec![c.sizes().vocab_size, 2, 2]);
    let mut stream = SafetensorsStream::new(WeightLoader::new(&c, &device).with_block_rows(3), None);
    let e = stream.push(&bytes).err().unwrap().to_string();
    assert_eq!(e, "tensor `wte.weight` has shape [11, 2, 2], expected [11, 4] for this config.json");
}

#[test]
fn a_stream_cut_short_or_running_on_is_an_error() {
    use invscale::checkpoint::{SafetensorsStream, WeightLoader};
    let c = config();
    let bytes = checkpoint(PLAIN, |_| {});
    let mut stream = SafetensorsStream::new(WeightLoader::new(&c, &Device::flex()), None);
    stream.push(&bytes[..bytes.len() - 5]).unwrap();
    let e = stream.finish().err().unwrap().to_string();
    assert!(e.contains("ends in the middle of tensor"), "{e}");

    let mut stream = SafetensorsStream::new(WeightLoader::new(&c, &Device::flex()), None);
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"extra");
    let e = stream.push(&longer).err().unwrap().to_string();
    assert!(e.contains("goes on after its last tensor"), "{e}");
}

/// Loads `bytes` with the weight matrices stored in `precision`, vocabulary blocks of 3 rows.
fn load_in(bytes: &[u8], precision: invscale::model::Precision) -> LanguageModel {
    use invscale::checkpoint::{SafetensorsStream, WeightLoader};
    let loader = WeightLoader::new(&config(), &Device::flex()).with_block_rows(3).with_precision(precision).unwrap();
    let mut stream = SafetensorsStream::new(loader, None);
    stream.push(bytes).unwrap();
    stream.finish().unwrap()
}

#[test]
fn half_precision_stores_the_matrices_in_f16_rounded_to_nearest() {
    use burn::tensor::DType;
    use invscale::model::Precision;
    for variant in [PLAIN, Variant { lm_head: true, ..PLAIN }] {
        let bytes = checkpoint(variant, |t| {
            if let Some(head) = t.iter_mut().find(|(n, ..)| n == "lm_head.weight") {
                head.2.iter_mut().for_each(|x| *x *= -0.5);
            }
        });
        let loaded = load_in(&bytes, Precision::F16);
        let half = gpt2(&loaded);
        let block = &half.h[1];
        for (what, dtype) in [
            ("c_attn", block.attn.c_attn.dtype()),
            ("attn c_proj", block.attn.c_proj.dtype()),
            ("c_fc", block.mlp.c_fc.dtype()),
            ("mlp c_proj", block.mlp.c_proj.dtype()),
            ("wte", half.wte.blocks[3].val().dtype()),
        ] {
            assert_eq!(dtype, DType::F16, "{what}");
        }
        if let Some(head) = &half.lm_head {
            assert!(head.blocks.iter().all(|b| b.val().dtype() == DType::F16), "lm_head");
        }
        // Small tensors stay float32.
        for (what, dtype) in [
            ("ln_1", block.ln_1.weight.val().dtype()),
            ("c_attn bias", block.attn.c_attn.bias.as_ref().unwrap().val().dtype()),
            ("wpe", half.wpe.weight.val().dtype()),
        ] {
            assert_eq!(dtype, DType::F32, "{what}");
        }
        // Rounding the matrices to f16 (as torch's `.half()`) beforehand, and keeping the small
        // tensors in float32, gives exactly the same model: arithmetic is float32 in both.
        let matrix = |name: &str| {
            ["wte.weight", "lm_head.weight"].contains(&name)
                || ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"].iter().any(|m| name.ends_with(m))
        };
        let rounded = checkpoint(variant, |t| {
            if let Some(head) = t.iter_mut().find(|(n, ..)| n == "lm_head.weight") {
                head.2.iter_mut().for_each(|x| *x *= -0.5);
            }
            for (_, _, data) in t.iter_mut().filter(|(n, ..)| matrix(n)) {
                data.iter_mut().for_each(|x| *x = half::f16::from_f32(*x).to_f32());
            }
        });
        let full = next_token_logprobs(&load_in(&bytes, Precision::F32));
        let half = next_token_logprobs(&loaded);
        assert_eq!(half, next_token_logprobs(&load_in(&rounded, Precision::F32)));
        assert_ne!(half, full, "rounding to f16 changes the numbers a little");
    }
}

#[test]
fn an_f16_checkpoint_in_half_precision_computes_what_it_does_in_float32() {
    use invscale::model::Precision;
    // Its weights are f16 already: kept as they are, not rounded again.
    let bytes = checkpoint(Variant { f16: true, lm_head: true, ..PLAIN }, |_| {});
    assert_eq!(next_token_logprobs(&load_in(&bytes, Precision::F16)), next_token_logprobs(&load_in(&bytes, Precision::F32)));
}

/// `bytes` through [`invscale::checkpoint::F16Rewrite`] in chunks of `chunk` bytes.
fn rewritten(bytes: &[u8], chunk: usize) -> Vec<u8> {
    let mut rewrite = invscale::checkpoint::F16Rewrite::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk) {
        out.extend(rewrite.push(piece).unwrap());
    }
    rewrite.finish().unwrap();
    out
}

#[test]
fn the_f16_rewrite_of_a_checkpoint_loads_to_exactly_its_half_precision_model() {
    use invscale::model::Precision;
    let bf16 = Variant { bf16: true, lm_head: true, ..PLAIN };
    for variant in [Variant { lm_head: true, buffers: true, ..PLAIN }, Variant { f16: true, prefix: true, ..PLAIN }, bf16] {
        let bytes = checkpoint(variant, |_| {});
        let whole = rewritten(&bytes, bytes.len());
        // Chunks that split the header and f32 elements anywhere give the same file.
        for chunk in [1, 3, 7, 64, 1000] {
            assert!(rewritten(&bytes, chunk) == whole, "chunks of {chunk} bytes");
        }
        let file = safetensors::SafeTensors::deserialize(&whole).unwrap();
        let names = file.names();
        assert!(
            !names.iter().any(|n| n.ends_with(".attn.bias") || n.ends_with(".attn.masked_bias")),
            "ignored buffers are dropped: {names:?}"
        );
        assert_eq!(names.len(), parameters(&config()).len() + usize::from(variant.lm_head));
        for (name, view) in file.tensors() {
            let matrix = name.ends_with("wte.weight")
                || name == "lm_head.weight"
                || name.ends_with("c_attn.weight")
                || name.ends_with("c_proj.weight")
                || name.ends_with("c_fc.weight");
            let expected = match (matrix, variant.f16, variant.bf16) {
                (true, ..) | (_, true, _) => Dtype::F16,
                (false, _, true) => Dtype::BF16, // only matrices are narrowed
                _ => Dtype::F32,
            };
            assert_eq!(view.dtype(), expected, "{name}");
        }
        if !variant.f16 && !variant.bf16 {
            // The matrices' bytes are halved (at this tiny size the header is a good part of the file).
            let matrices: usize = file.tensors().iter().filter(|(_, v)| v.dtype() == Dtype::F16).map(|(_, v)| v.data().len()).sum();
            let data_len = |b: &[u8]| b.len() - 8 - u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
            let buffers = 4 * (1 + 64); // masked_bias and attn.bias, float32
            assert_eq!(data_len(&whole), data_len(&bytes) - matrices - buffers);
        }
        assert_eq!(next_token_logprobs(&load_in(&whole, Precision::F16)), next_token_logprobs(&load_in(&bytes, Precision::F16)));
    }
    // A file cut short, or running on, is an error, not a shorter copy.
    let bytes = checkpoint(PLAIN, |_| {});
    let mut rewrite = invscale::checkpoint::F16Rewrite::new();
    rewrite.push(&bytes[..bytes.len() - 3]).unwrap();
    assert!(rewrite.finish().err().unwrap().to_string().contains("ends in the middle of tensor"));
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(invscale::checkpoint::F16Rewrite::new().push(&longer).err().unwrap().to_string().contains("goes on after its last tensor"));
}
