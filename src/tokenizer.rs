//! GPT-2's byte-level BPE through the `tokenizers` crate, loaded from `tokenizer.json` bytes.

/// A tokenizer loaded from a Hub `tokenizer.json`.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("tokenizer.json is not a valid tokenizer: {0}")]
    Load(String),
    #[error("cannot tokenize the text: {0}")]
    Encode(String),
    #[error("cannot decode token ids to text: {0}")]
    Decode(String),
}

impl Tokenizer {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TokenizerError> {
        let inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| TokenizerError::Load(e.to_string()))?;
        Ok(Tokenizer { inner })
    }

    /// Token ids of `text` as `GPT2TokenizerFast(text)` gives them: no BOS, no padding, and
    /// `<|endoftext|>` written in the text becomes its special id.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let encoding = self.inner.encode(text, true).map_err(|e| TokenizerError::Encode(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner.decode(ids, false).map_err(|e| TokenizerError::Decode(e.to_string()))
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}
