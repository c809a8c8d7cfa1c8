//! Checks of the page's model choice that the core makes.

use wasm_bindgen::prelude::*;

use crate::evaluation;

/// Throws when two of the models share a name (their results would be one file).
#[wasm_bindgen]
pub fn check_model_names(names: Vec<String>) -> Result<(), JsError> {
    Ok(evaluation::check_model_names(&names)?)
}
