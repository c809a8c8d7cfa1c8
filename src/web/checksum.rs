//! SHA-256 of a download, computed chunk by chunk as it streams: the Hub names each large
//! (LFS) file by its SHA-256, so a corrupted or truncated download is caught before it is kept.

use sha2::{Digest, Sha256};

use crate::checksum::{DownloadCheck, Verdict};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
pub struct Sha256Stream(Sha256);

#[wasm_bindgen]
impl Sha256Stream {
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Sha256Stream(Sha256::new())
    }

    pub fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    /// The digest of everything given, as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.0.clone().finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The SHA-256 policy of one file's downloads ([`crate::checksum`]), for `download.js`.
#[wasm_bindgen(js_name = DownloadCheck)]
pub struct JsDownloadCheck(DownloadCheck);

#[wasm_bindgen(js_class = DownloadCheck)]
impl JsDownloadCheck {
    /// `expected`: the SHA-256 the Hub gives for the file, if any.
    #[wasm_bindgen(constructor)]
    pub fn new(expected: Option<String>) -> Self {
        JsDownloadCheck(DownloadCheck::new(expected.as_deref()))
    }

    /// Whether there is a SHA-256 to check.
    pub fn expects(&self) -> bool {
        self.0.expects()
    }

    /// Nothing for a download to keep; the notice to show before downloading the file again;
    /// throws when it is refused.
    pub fn judge(&mut self, name: &str, url: &str, got: &str) -> Result<Option<String>, JsError> {
        match self.0.judge(name, url, got) {
            Verdict::Keep => Ok(None),
            Verdict::Again { notice } => Ok(Some(notice)),
            Verdict::Refuse(mismatch) => Err(mismatch.into()),
        }
    }
}
