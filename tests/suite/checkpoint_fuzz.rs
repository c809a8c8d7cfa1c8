//! The checkpoint readers never panic, hang or grow without bound on a hostile file: valid
//! files mutated where each format is fragile, each read to an error or a model. 100,000
//! cases a parser: `config.json` of every family with its sizes replaced by any JSON value;
//! safetensors with its header's shapes, dtypes and offsets rewritten (and bytes flipped or cut),
//! pushed in chunks of any size, its file size known or not; `data.pkl` with opcodes flipped,
//! inserted, repeated or cut, in a PyTorch zip. The readers bound what they hold by the file
//! (or refuse first), so each case stays small.

use crate::common;

use burn::tensor::Device;
use invscale::checkpoint::{SafetensorsStream, WeightLoader, WeightsStream};
use invscale::model::ModelConfig;
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
