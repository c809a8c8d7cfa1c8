//! How values cross between the page and the module: as JS objects, typed. Each type that
//! crosses derives `Tsify`, which writes its TypeScript declaration into the module's `.d.ts`
//! (`dist/invscale-web.d.ts`, which the page's `// @ts-check` reads); [`Ts`] carries it in a
//! `#[wasm_bindgen]` signature, so the declaration names the type.

use serde::de::DeserializeOwned;
use serde::Serialize;
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

/// `value` as the page reads it: as JSON would have it (`None` as null, maps as plain objects),
/// so what the page stores and exports reads as before.
pub fn to_page<T: Tsify + Serialize>(value: &T) -> Result<Ts<T>, JsError> {
    let js = value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| JsError::new(&e.to_string()))?;
    Ok(Ts::new_unchecked(js))
}

/// What the page gave as `what`, read as `T`; an error names `what` and the field that does not fit.
pub fn from_page<T: Tsify + DeserializeOwned>(value: Ts<T>, what: &'static str) -> Result<T, BadValue> {
    let deserializer = serde_wasm_bindgen::Deserializer::from(value.js_value());
    serde_path_to_error::deserialize(deserializer).map_err(|e| BadValue {
        what,
        field: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// A value from the page that is not what its declaration says.
#[derive(Debug, thiserror::Error)]
#[error("bad {what}: `{field}`: {message}")]
pub struct BadValue {
    what: &'static str,
    field: String,
    message: String,
}
