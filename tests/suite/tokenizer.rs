//! Token ids equal the Python GPT-2 tokenizer's (`GPT2TokenizerFast` and the slow
//! `GPT2Tokenizer`, which agree on every case) on a corpus of tricky strings.

use crate::common;

use invscale::tokenizer::Tokenizer;

#[test]
fn ids_match_python_on_tricky_strings() {
    let tokenizer = Tokenizer::from_bytes(&common::read(common::fixtures().join("tokenizer.json"))).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_slice(&common::read(common::fixtures().join("tokenizer_cases.json"))).unwrap();
    assert!(cases.len() >= 30, "the corpus has {} cases", cases.len());
    for case in &cases {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        assert_eq!(tokenizer.encode(text).unwrap(), expected, "text {text:?}");
    }
}

#[test]
fn garbage_tokenizer_json_is_an_error() {
    let err = Tokenizer::from_bytes(b"{not json").err().expect("must fail");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}
