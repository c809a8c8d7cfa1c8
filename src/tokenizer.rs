//! Byte-level BPE through the `tokenizers` crate, from a Hub `tokenizer.json` or from the
//! `vocab.json` + `merges.txt` pair that some repositories ship instead (OPT, Cerebras-GPT),
//! built as transformers builds it (`GPT2Tokenizer`).

use std::collections::HashMap;

use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::AddedToken;

/// A model's tokenizer files, as its repository has them.
#[derive(Clone, Copy, Debug)]
pub enum TokenizerFiles<'a> {
    /// `tokenizer.json`.
    Json(&'a [u8]),
    /// `vocab.json`, `merges.txt` and, when the repository has one, `tokenizer_config.json`
    /// (which says whether a BOS token starts every sequence).
    VocabMerges { vocab: &'a [u8], merges: &'a [u8], config: Option<&'a [u8]> },
}

impl TokenizerFiles<'_> {
    /// The file that holds the vocabulary (its ids).
    pub fn vocabulary_file(&self) -> &'static str {
        match self {
            TokenizerFiles::Json(_) => "tokenizer.json",
            TokenizerFiles::VocabMerges { .. } => "vocab.json",
        }
    }
}

/// The bytes of a model's tokenizer files, as read from a folder or downloaded.
#[derive(Clone, Debug)]
pub enum TokenizerBytes {
    /// `tokenizer.json`.
    Json(Vec<u8>),
    /// `vocab.json`, `merges.txt` and `tokenizer_config.json` when there is one.
    VocabMerges(Vec<u8>, Vec<u8>, Option<Vec<u8>>),
}

impl TokenizerBytes {
    pub fn files(&self) -> TokenizerFiles<'_> {
        match self {
            TokenizerBytes::Json(bytes) => TokenizerFiles::Json(bytes),
            TokenizerBytes::VocabMerges(vocab, merges, config) => TokenizerFiles::VocabMerges { vocab, merges, config: config.as_deref() },
        }
    }
}

/// A tokenizer, and the token it puts before every sequence, if any.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    bos: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("{file} is not a valid tokenizer file: {message}")]
    Load { file: &'static str, message: String },
    #[error("cannot tokenize the text: {0}")]
    Encode(String),
    #[error("cannot decode token ids to text: {0}")]
    Decode(String),
}

fn load_error(file: &'static str, message: impl ToString) -> TokenizerError {
    TokenizerError::Load { file, message: message.to_string() }
}

impl Tokenizer {
    /// A `tokenizer.json`. Its post-processor decides whether a BOS token starts every
    /// sequence, as it does for transformers' fast tokenizers.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenizerError> {
        let inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| load_error("tokenizer.json", e))?;
        let added = |with: bool| inner.encode("", with).map(|e| e.get_ids().to_vec()).map_err(|e| load_error("tokenizer.json", e));
        let bos = match (added(true)?.as_slice(), added(false)?.as_slice()) {
            (with, without) if with == without => None,
            ([id], []) => Some(*id),
            (with, _) => {
                return Err(load_error(
                    "tokenizer.json",
                    format!("its post-processor adds the tokens {with:?} to every text; only a single leading BOS is supported"),
                ))
            }
        };
        Ok(Tokenizer { inner, bos })
    }

    /// Whichever files the repository has.
    pub fn from_files(files: TokenizerFiles<'_>) -> Result<Self, TokenizerError> {
        let tokenizer = match files {
            TokenizerFiles::Json(bytes) => Self::from_bytes(bytes),
            TokenizerFiles::VocabMerges { vocab, merges, config } => Self::from_vocab_merges(vocab, merges, config),
        }?;
        // Else every text would fail to tokenize, blamed on the task.
        if tokenizer.vocab_size() == 0 {
            return Err(load_error(files.vocabulary_file(), "its vocabulary is empty"));
        }
        Ok(tokenizer)
    }

    /// GPT-2's byte-level BPE from `vocab.json` and `merges.txt`, its special tokens and BOS
    /// from `tokenizer_config.json` (as `GPT2Tokenizer`: `add_bos_token`, default false).
    fn from_vocab_merges(vocab: &[u8], merges: &[u8], config: Option<&[u8]>) -> Result<Self, TokenizerError> {
        let vocab: HashMap<String, u32> = serde_json::from_slice(vocab).map_err(|e| load_error("vocab.json", e))?;
        let merges = std::str::from_utf8(merges).map_err(|e| load_error("merges.txt", e))?;
        let mut pairs = Vec::new();
        for (i, line) in merges.lines().enumerate() {
            if line.starts_with("#version") || line.trim().is_empty() {
                continue;
            }
            let (a, b) = line
                .split_once(' ')
                .filter(|(_, b)| !b.contains(' '))
                .ok_or_else(|| load_error("merges.txt", format!("line {}: expected two tokens separated by a space", i + 1)))?;
            // The BPE builder would blame vocab.json for a merge it cannot place.
            if let Some(unknown) = [a.to_string(), b.to_string(), format!("{a}{b}")].into_iter().find(|t| !vocab.contains_key(t)) {
                return Err(load_error(
                    "merges.txt",
                    format!("line {}: merges into or from `{unknown}`, which vocab.json does not have", i + 1),
                ));
            }
            pairs.push((a.to_string(), b.to_string()));
        }
        let config: serde_json::Value = match config {
            Some(bytes) => serde_json::from_slice(bytes).map_err(|e| load_error("tokenizer_config.json", e))?,
            None => serde_json::Value::Null,
        };
        let ids: Vocab = vocab.iter().map(|(token, &id)| (token.clone(), id)).collect();
        let bpe = BPE::builder().vocab_and_merges(ids, pairs).build().map_err(|e| load_error("vocab.json", e))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
        inner.with_decoder(Some(ByteLevel::default()));
        // A special token is written as a string or as `{"content": ...}`.
        let token = |name: &str| match &config[name] {
            serde_json::Value::String(s) => Some(s.clone()),
            value => value["content"].as_str().map(str::to_string),
        };
        let specials: Vec<AddedToken> = ["bos_token", "eos_token", "unk_token", "pad_token"]
            .iter()
            .filter_map(|name| token(name))
            .filter(|t| vocab.contains_key(t))
            .map(|t| AddedToken::from(t, true))
            .collect();
        inner.add_special_tokens(specials).map_err(|e| load_error("tokenizer_config.json", e))?;
        let bos = match config["add_bos_token"].as_bool().unwrap_or(false) {
            false => None,
            true => {
                let name = token("bos_token").unwrap_or_else(|| "<|endoftext|>".to_string());
                let id = vocab.get(&name).copied().ok_or_else(|| {
                    load_error("tokenizer_config.json", format!("add_bos_token is true but its bos_token {name:?} is not in vocab.json"))
                })?;
                Some(id)
            }
        };
        Ok(Tokenizer { inner, bos })
    }

    /// Token ids of `text` alone (no BOS, no padding), as `tokenizer(text)` gives them after
    /// its BOS; a special token written in the text (`<|endoftext|>`) becomes its id.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self.inner.encode(text, false).map_err(|e| TokenizerError::Encode(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The token transformers puts before every sequence this tokenizer encodes (OPT's
    /// `</s>`); `None` for GPT-2, GPT-Neo and Pythia.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// Text of `ids`, special tokens (a BOS) left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner.decode(ids, true).map_err(|e| TokenizerError::Decode(e.to_string()))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The token with the largest id (added tokens included): what must have a row in the
    /// embedding, whatever the count of tokens.
    pub fn largest_id(&self) -> Option<(String, u32)> {
        self.inner.get_vocab(true).into_iter().max_by_key(|&(_, id)| id)
    }
}
