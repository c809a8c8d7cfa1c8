//! The checkpoint readers never panic, hang or grow without bound on a hostile file: valid
//! files mutated where each format is fragile, each read to an error or a model. 100,000
//! cases a parser: `config.json` of every family with its sizes replaced by any JSON value;
//! safetensors with its header's shapes, dtypes and offsets rewritten (and bytes flipped or cut),
//! pushed in chunks of any size, its file size known or not; `data.pkl` with opcodes flipped,
//! inserted, repeated or cut, in a PyTorch zip; the zip's local headers, data descriptors,
//! central directory and its end rewritten field by field; a shard index's `weight_map` of any
//! names; `tokenizer.json` with any part replaced, and `vocab.json` + `merges.txt` with entries
//! and lines changed. The readers bound what they hold by the file (or refuse first), so each
//! case stays small.

use crate::common;

use burn::tensor::Device;
use invscale::checkpoint::files::shard_files;
use invscale::checkpoint::{SafetensorsStream, WeightLoader, WeightsStream};
use invscale::model::ModelConfig;
use invscale::tokenizer::{Tokenizer, TokenizerFiles};
use proptest::prelude::*;

/// A JSON value of any kind, sizes near every edge included.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        prop::sample::select(vec![0i64, 1, 2, 3, 7, 8, 64, 1024, 1025, 65_536, 1 << 21, 1 << 31, i64::MAX, -1, i64::MIN])
            .prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        prop::num::f64::ANY.prop_map(|x| serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)),
        "[a-z_]{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::json!([1, 2])),
        Just(serde_json::json!({"type": "llama3", "factor": 8})),
    ]
}

/// Every family's `config.json` fields that shape the network, and a few others.
const FIELDS: [&str; 31] = [
    "model_type",
    "n_layer",
    "n_head",
    "n_embd",
    "n_positions",
    "vocab_size",
    "n_inner",
    "activation_function",
    "num_layers",
    "num_heads",
    "hidden_size",
    "max_position_embeddings",
    "intermediate_size",
    "window_size",
    "attention_layers",
    "attention_types",
    "num_hidden_layers",
    "num_attention_heads",
    "rotary_pct",
    "rotary_emb_base",
    "use_parallel_residual",
    "tie_word_embeddings",
    "ffn_dim",
    "word_embed_proj_dim",
    "do_layer_norm_before",
    "layer_norm_epsilon",
    "layer_norm_eps",
    "hidden_act",
    "scale_attn_weights",
    "rope_scaling",
    "attention_bias",
];

const CONFIGS: [&str; 4] = ["tiny-hub", "tiny-neo", "tiny-neox", "tiny-opt"];

/// The bytes of tiny-hub-shaped `model.safetensors` (a small GPT-2), with `edits` to its header:
/// a tensor's shape, dtype or offsets replaced.
fn safetensors_mutated() -> impl Strategy<Value = (Vec<u8>, bool, usize)> {
    let header_edit =
        (any::<prop::sample::Index>(), 0u8..4, prop::sample::select(vec![0u64, 1, 3, 4, 11, 4096, 1 << 20, 1 << 40, u64::MAX / 2]));
    let byte_edit = (any::<prop::sample::Index>(), 0u8..3, any::<u8>());
    (prop::collection::vec(header_edit, 0..4), prop::collection::vec(byte_edit, 0..3), any::<bool>(), 1usize..5000).prop_map(
        |(header_edits, byte_edits, sized, chunk)| {
            let bytes = crate::weights::checkpoint(crate::weights::PLAIN, |_| {});
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            let mut header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
            let names: Vec<String> = header.keys().filter(|k| *k != "__metadata__").cloned().collect();
            for (at, kind, value) in header_edits {
                let tensor = &mut header[&names[at.index(names.len())]];
                match kind {
                    0 => tensor["shape"][0] = value.into(),
                    1 => tensor["data_offsets"][1] = value.into(),
                    2 => tensor["data_offsets"][0] = value.into(),
                    _ => tensor["dtype"] = ["F32", "F16", "BF16", "I64", "BOOL", "F8_E4M3", "U8"][value as usize % 7].into(),
                }
            }
            let header = serde_json::to_vec(&header).unwrap();
            let mut out = (header.len() as u64).to_le_bytes().to_vec();
            out.extend_from_slice(&header);
            out.extend_from_slice(&bytes[8 + n..]);
            for (at, kind, byte) in byte_edits {
                if out.is_empty() {
                    break;
                }
                let i = at.index(out.len());
                match kind {
                    0 => out[i] = byte,
                    1 => out.truncate(i),
                    _ => out[i % 8] = byte,
                }
            }
            (out, sized, chunk)
        },
    )
}

/// tiny-opt's `data.pkl` with a few opcodes flipped, inserted, repeated or cut.
fn pickle_mutated() -> impl Strategy<Value = Vec<u8>> {
    let opcodes = b"()tl]}dsuaeqrhj\x85\x86\x87\x93QRbN\x88\x89KMJ\x8aGX\x8c\x8dCB.\x80\x94\x95".to_vec();
    let edit = (any::<prop::sample::Index>(), 0u8..4, prop::sample::select(opcodes), 1usize..2000);
    prop::collection::vec(edit, 1..6).prop_map(|edits| {
        let mut pickle = opt_pickle();
        for (at, kind, op, times) in edits {
            let i = at.index(pickle.len().max(1)).min(pickle.len());
            match kind {
                0 if i < pickle.len() => pickle[i] = op,
                1 => pickle.insert(i, op),
                2 => pickle.splice(i..i, std::iter::repeat_n(op, times)).for_each(drop),
                _ => pickle.truncate(i),
            }
        }
        pickle
    })
}

fn opt_pickle() -> Vec<u8> {
    static PICKLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    PICKLE
        .get_or_init(|| {
            let zip = common::read(common::fixtures().join("models/tiny-opt/pytorch_model.bin"));
            let entries = crate::torch_checkpoints::entries(&zip);
            entries.into_iter().find(|(name, _)| name.ends_with("/data.pkl")).expect("a data.pkl").1
        })
        .clone()
}

/// A fixture family's `config.json`, read once.
fn fixture_config(family: &str) -> serde_json::Value {
    static READ: std::sync::OnceLock<std::collections::HashMap<&'static str, serde_json::Value>> = std::sync::OnceLock::new();
    let configs = READ.get_or_init(|| {
        CONFIGS
            .iter()
            .map(|&f| (f, serde_json::from_slice(&common::read(common::fixtures().join("models").join(f).join("config.json"))).unwrap()))
            .collect()
    });
    configs[family].clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100_000, ..ProptestConfig::default() })]

    #[test]
    fn configs_of_any_values_never_panic(
        family in prop::sample::select(CONFIGS.to_vec()),
        edits in prop::collection::vec((prop::sample::select(FIELDS.to_vec()), any_json()), 1..5),
    ) {
        let mut config = fixture_config(family);
        for (field, value) in edits {
            config[field] = value;
        }
        if let Ok(config) = ModelConfig::from_json(&serde_json::to_vec(&config).unwrap()) {
            // What a config plans from its sizes stays arithmetic that cannot overflow.
            let _ = (config.parameter_count(), config.past_bytes_per_token(), config.n_positions());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100_000, ..ProptestConfig::default() })]

    #[test]
    fn safetensors_files_mutated_never_panic((bytes, sized, chunk) in safetensors_mutated()) {
        let config = crate::weights::config();
        let size = sized.then_some(bytes.len() as u64);
        let mut stream = SafetensorsStream::new(WeightLoader::new(&config, &Device::flex()), size);
        if bytes.chunks(chunk).try_for_each(|c| stream.push(c)).is_ok() {
            let _ = stream.finish();
        }
    }

    #[test]
    fn pickles_mutated_never_panic(pickle in pickle_mutated()) {
        let config = ModelConfig::from_json(&serde_json::to_vec(&fixture_config("tiny-opt")).unwrap()).unwrap();
        let zip = crate::torch_checkpoints::zip_of(&[("archive/data.pkl".to_string(), pickle)], 0);
        let mut stream = WeightsStream::new(WeightLoader::new(&config, &Device::flex()));
        stream.start_file("pytorch_model.bin", Some(zip.len() as u64));
        if stream.push(&zip).is_ok() {
            let _ = stream.finish();
        }
    }
}

/// tiny-opt's `pytorch_model.bin` with its two large storages cut to a few bytes (so a case
/// stays small: the loader then refuses their size, after the zip is read), written as
/// `torch.save` writes it or with a central directory only, and each header's offset in it.
fn opt_zip(descriptors: bool) -> (Vec<u8>, Vec<usize>) {
    static ENTRIES: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    let entries = ENTRIES.get_or_init(|| {
        let zip = common::read(common::fixtures().join("models/tiny-opt/pytorch_model.bin"));
        let mut entries = crate::torch_checkpoints::entries(&zip);
        for (_, data) in entries.iter_mut().filter(|(_, data)| data.len() > 4096) {
            data.truncate(64);
        }
        entries
    });
    let zip =
        if descriptors { crate::torch_checkpoints::zip_with_descriptors(entries) } else { crate::torch_checkpoints::zip_of(entries, 0) };
    let headers = (0..zip.len().saturating_sub(4))
        .filter(|&i| zip[i..i + 2] == *b"PK" && matches!(zip[i + 2..i + 4], [3, 4] | [1, 2] | [5, 6] | [7, 8]))
        .collect();
    (zip, headers)
}

/// A zip whose headers have a field rewritten: a size, an offset, a name's or extra field's
/// length, the flags or the method, by 2 or 4 bytes, any of them near an edge.
fn zip_mutated() -> impl Strategy<Value = (Vec<u8>, bool, usize)> {
    let values = vec![0u32, 1, 8, 30, 46, 0xFFFF, 0x1_0000, 0xFFFF_FFFF, 0x7FFF_FFFF, 1 << 20];
    let edit = (any::<prop::sample::Index>(), 4usize..46, prop::sample::select(values), any::<bool>());
    (any::<bool>(), prop::collection::vec(edit, 1..4), any::<bool>(), 1usize..5000).prop_map(|(descriptors, edits, sized, chunk)| {
        let (mut zip, headers) = opt_zip(descriptors);
        for (header, field, value, wide) in edits {
            let at = headers[header.index(headers.len())] + field;
            let bytes = value.to_le_bytes();
            let width = if wide { 4 } else { 2 };
            if at + width <= zip.len() {
                zip[at..at + width].copy_from_slice(&bytes[..width]);
            }
        }
        (zip, sized, chunk)
    })
}

/// A shard index's `weight_map`: tensor names to file names, good and bad, or any JSON at all.
fn index_mutated() -> impl Strategy<Value = Vec<u8>> {
    let file = prop::sample::select(vec![
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "",
        ".",
        "..",
        "../model.safetensors",
        "a/b.safetensors",
        "a\\b.safetensors",
        ".hidden",
        "/etc/passwd",
        "model.safetensors\0",
    ]);
    let value = prop_oneof![file.prop_map(serde_json::Value::from), any_json()];
    let map = prop::collection::btree_map("[a-z.0-9]{0,12}", value, 0..40);
    prop_oneof![
        map.prop_map(|m| serde_json::json!({ "metadata": { "total_size": 1 }, "weight_map": m })),
        any_json().prop_map(|v| serde_json::json!({ "weight_map": v })),
        any_json(),
    ]
    .prop_map(|index| serde_json::to_vec(&index).unwrap())
}

/// GPT-2's `tokenizer.json` cut to its first 400 tokens (the 256 bytes and the merges that
/// build the rest), so a case parses in a moment.
fn small_tokenizer() -> serde_json::Value {
    static SMALL: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    SMALL
        .get_or_init(|| {
            let mut json: serde_json::Value = serde_json::from_slice(&common::read(common::fixtures().join("tokenizer.json"))).unwrap();
            let vocab = json["model"]["vocab"].as_object().unwrap();
            let kept: serde_json::Map<String, serde_json::Value> =
                vocab.iter().filter(|(_, id)| id.as_u64().unwrap() < 400).map(|(t, id)| (t.clone(), id.clone())).collect();
            let merges: Vec<serde_json::Value> = json["model"]["merges"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| {
                    let pair: Vec<String> = match m {
                        serde_json::Value::String(s) => s.split(' ').map(str::to_string).collect(),
                        other => other.as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect(),
                    };
                    pair.len() == 2 && kept.contains_key(&pair[0]) && kept.contains_key(&pair[1]) && kept.contains_key(&pair.concat())
                })
                .cloned()
                .collect();
            json["model"]["vocab"] = kept.into();
            json["model"]["merges"] = merges.into();
            json["added_tokens"][0]["id"] = 399.into();
            json
        })
        .clone()
}

/// The parts of a `tokenizer.json` that choose what the tokenizer does.
const TOKENIZER_PARTS: [&str; 16] = [
    "/model/type",
    "/model/vocab/Ġthe",
    "/model/vocab/a",
    "/model/merges/0",
    "/model/merges",
    "/model/unk_token",
    "/model/dropout",
    "/model/byte_fallback",
    "/added_tokens/0/id",
    "/added_tokens/0/content",
    "/added_tokens",
    "/pre_tokenizer",
    "/pre_tokenizer/type",
    "/post_processor",
    "/decoder",
    "/normalizer",
];

/// The fuzzers start from files that read: the cut tokenizer loads and encodes, the cut zip is
/// read through to its storages, either way written (and refused for their size, not as a zip).
#[test]
fn the_fuzzers_start_from_files_that_read() {
    let json = serde_json::to_vec(&small_tokenizer()).unwrap();
    let tokenizer = Tokenizer::from_files(TokenizerFiles::Json(&json)).unwrap();
    // Fewer tokens than bytes: the merges kept apply.
    assert!(tokenizer.encode("the").unwrap().len() < 3);
    let config = ModelConfig::from_json(&serde_json::to_vec(&fixture_config("tiny-opt")).unwrap()).unwrap();
    for descriptors in [false, true] {
        let (zip, headers) = opt_zip(descriptors);
        assert_eq!(headers.len(), if descriptors { 3 } else { 2 } * 42 + 1, "42 entries: local headers, central directory, end");
        let mut stream = WeightsStream::new(WeightLoader::new(&config, &Device::flex()));
        stream.start_file("pytorch_model.bin", Some(zip.len() as u64));
        let e = stream.push(&zip).and_then(|()| stream.finish().map(drop)).unwrap_err().to_string();
        // With descriptors a storage's size is data.pkl's, so the cut one runs past the end.
        let expected = match descriptors {
            false => "the storage of `model.decoder.embed_tokens.weight` holds 64 bytes, not the 402176 elements data.pkl says",
            true => "the file ends in the middle of an entry",
        };
        assert_eq!(e, format!("not a valid PyTorch checkpoint: {expected}"));
    }
}

/// Texts the tokenizer encodes once it loads.
const TEXTS: [&str; 3] = ["Hello, world! 123", " the <|endoftext|>", "\u{0}\u{ffff} é 漢"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 100_000, ..ProptestConfig::default() })]

    #[test]
    fn zips_mutated_never_panic((zip, sized, chunk) in zip_mutated()) {
        let config = ModelConfig::from_json(&serde_json::to_vec(&fixture_config("tiny-opt")).unwrap()).unwrap();
        let mut stream = WeightsStream::new(WeightLoader::new(&config, &Device::flex()));
        stream.start_file("pytorch_model.bin", sized.then_some(zip.len() as u64));
        if zip.chunks(chunk).try_for_each(|c| stream.push(c)).is_ok() {
            let _ = stream.finish();
        }
    }

    #[test]
    fn shard_indexes_of_any_names_never_panic_nor_name_a_path(index in index_mutated()) {
        if let Ok(shards) = shard_files(&index) {
            for shard in shards {
                prop_assert!(!shard.is_empty() && !shard.starts_with('.') && !shard.contains(['/', '\\']), "{shard:?}");
            }
        }
    }

    #[test]
    fn tokenizer_json_of_any_parts_never_panics(edits in prop::collection::vec((prop::sample::select(TOKENIZER_PARTS.to_vec()), any_json()), 1..4)) {
        let mut json = small_tokenizer();
        for (part, value) in edits {
            if let Some(slot) = json.pointer_mut(part) {
                *slot = value;
            }
        }
        if let Ok(tokenizer) = Tokenizer::from_files(TokenizerFiles::Json(&serde_json::to_vec(&json).unwrap())) {
            let _ = tokenizer.largest_id();
            for text in TEXTS {
                let _ = tokenizer.encode(text);
            }
        }
    }

    #[test]
    fn vocab_and_merges_of_any_entries_never_panic(
        vocab_edits in prop::collection::vec(("[a-zĠ<|>]{0,4}", any_json()), 0..4),
        merge_edits in prop::collection::vec((any::<prop::sample::Index>(), "[a-zĠ #]{0,8}"), 0..4),
        config in prop_oneof![Just(None), any_json().prop_map(|v| Some(serde_json::json!({ "add_bos_token": true, "bos_token": v })))],
    ) {
        let json = small_tokenizer();
        let mut vocab = json["model"]["vocab"].clone();
        for (token, id) in vocab_edits {
            vocab[token] = id;
        }
        let mut merges: Vec<String> = json["model"]["merges"].as_array().unwrap().iter().map(|m| match m {
            serde_json::Value::String(s) => s.clone(),
            other => other.as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect::<Vec<_>>().join(" "),
        }).collect();
        for (at, line) in merge_edits {
            let i = at.index(merges.len() + 1);
            merges.insert(i, line);
        }
        let (vocab, merges) = (serde_json::to_vec(&vocab).unwrap(), format!("#version: 0.2\n{}\n", merges.join("\n")));
        let config = config.map(|c| serde_json::to_vec(&c).unwrap());
        let files = TokenizerFiles::VocabMerges { vocab: &vocab, merges: merges.as_bytes(), config: config.as_deref() };
        if let Ok(tokenizer) = Tokenizer::from_files(files) {
            let _ = tokenizer.largest_id();
            for text in TEXTS {
                let _ = tokenizer.encode(text);
            }
        }
    }
}
