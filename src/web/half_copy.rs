//! The half-precision copy of a model's weights that the cache keeps in place of the
//! download when runs use f16 weights (half the bytes; see `model::F16Rewrite`).

use wasm_bindgen::prelude::*;

use crate::checkpoint::F16Rewrite;

#[wasm_bindgen]
pub struct HalfPrecisionCopy(F16Rewrite);

#[wasm_bindgen]
impl HalfPrecisionCopy {
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        HalfPrecisionCopy(F16Rewrite::new())
    }

    /// The next chunk of `model.safetensors` → the next bytes of its copy.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, JsError> {
        self.0.push(chunk).map_err(|e| JsError::new(&e.to_string()))
    }

    /// Throws unless the whole file was given.
    pub fn finish(self) -> Result<(), JsError> {
        self.0.finish().map_err(|e| JsError::new(&e.to_string()))
    }
}
