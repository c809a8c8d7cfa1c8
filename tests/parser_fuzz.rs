//! The task parser never panics: random bytes, and random mutations of valid CSV / JSONL
//! files (cut, spliced, bytes flipped, quotes and separators inserted), each either parse or
//! give an error. 2 × 50,000 inputs per run.

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
