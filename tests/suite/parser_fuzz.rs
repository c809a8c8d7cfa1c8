//! The task parser never panics: random bytes, and random mutations of valid CSV / JSONL
//! files (cut, spliced, bytes flipped, quotes and separators inserted), each either parse or
//! give an error. 2 × 50,000 inputs per run; and 20,000 copies of the Parquet fixture cut
//! short or with a damaged footer (a panic in the page's wasm traps its call).

use invscale::task::{parse_task, TaskType};
use proptest::prelude::*;

const SEEDS: [&str; 4] = [
    ",prompt,classes,answer_index\r\n0,\"Q: a, \"\"b\"\"\nA:\",\"[' yes', \" don't\"]\",1\r\n1,P,\"[' x', ' y', ' z']\",2\r\n",
    "prompt,biased_prompt,classes,answer_ix\nP,Q,\"[' Yes', ' No']\",0\n",
    "prompt,completion\nHello, world\n",
    "{\"prompt\": \"P\", \"classes\": [\" a\", \" b\"], \"answer_index\": 1}\n{\"prompt\": \"Q\", \"completion\": \" c\"}\n",
];

fn forced() -> impl Strategy<Value = Option<TaskType>> {
    prop_oneof![Just(None), proptest::sample::select(TaskType::ALL.to_vec()).prop_map(Some)]
}

/// A seed file with a few random edits.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), 0u8..5, any::<u8>(), prop::sample::select(b"\",\n\r[]'\\{}:\x00".to_vec()));
    (prop::sample::select(SEEDS.to_vec()), prop::collection::vec(edit, 1..8)).prop_map(|(seed, edits)| {
        let mut bytes = seed.as_bytes().to_vec();
        for (at, kind, byte, special) in edits {
            if bytes.is_empty() {
                bytes.push(byte);
                continue;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, special),
                2 => {
                    bytes.remove(i);
                }
                3 => bytes.truncate(i),
                _ => {
                    let copy = bytes[i..].to_vec();
                    bytes.extend_from_slice(&copy);
                }
            }
        }
        bytes
    })
}

/// The Parquet fixture cut short, or with a few bytes of its footer (the file's metadata:
/// schema, row groups, where each column's pages are) changed. Damage inside the compressed
/// pages themselves can still reach an assertion in the `parquet` crate's decoders; see
/// `src/task/parquet.rs`.
fn damaged_parquet() -> impl Strategy<Value = Vec<u8>> {
    let file =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tasks/classification.parquet")).expect("the Parquet fixture");
    let footer_len = u32::from_le_bytes(file[file.len() - 8..file.len() - 4].try_into().unwrap()) as usize + 8;
    let edit = (0..footer_len, any::<u8>());
    (prop::collection::vec(edit, 0..6), any::<prop::sample::Index>(), any::<bool>()).prop_map(move |(edits, cut, truncate)| {
        let mut bytes = file.clone();
        let footer = bytes.len() - footer_len;
        for (at, byte) in edits {
            bytes[footer + at] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        bytes
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn damaged_parquet_files_never_panic(bytes in damaged_parquet()) {
        if let Err(e) = parse_task(&bytes, None) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 50_000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), t in forced()) {
        let _ = parse_task(&bytes, t);
    }

    #[test]
    fn mutated_files_never_panic(bytes in mutated(), t in forced()) {
        if let Err(e) = parse_task(&bytes, t) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}
