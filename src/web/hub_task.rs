//! Hub datasets for the page: the URL of a `hub:` task's file list, and which file of that
//! list to fetch (the rules live in [`crate::hub`]).

use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::hub::{pick_data_file, HubRef};

fn dataset(spec: &str) -> Result<HubRef, JsError> {
    match HubRef::parse(spec) {
        Some(parsed) => parsed.map_err(|e| JsError::new(&e)),
        None => Err(JsError::new(&format!("`{spec}` does not start with hub:"))),
    }
}

/// `{name, tree_url}` of a `hub:<id>[@revision][:<file>]` spec on `hub`; throws if the spec is malformed.
#[wasm_bindgen]
pub fn hub_dataset(spec: &str, hub: &str) -> Result<String, JsError> {
    let d = dataset(spec)?;
    Ok(json!({ "name": d.to_string(), "tree_url": d.tree_url(hub) }).to_string())
}

/// `{name, path, size, url}` of the data file picked from the dataset's file list (the tree
/// API's JSON); throws with what the dataset holds when no file fits.
#[wasm_bindgen]
pub fn hub_data_file(spec: &str, hub: &str, tree_json: &[u8]) -> Result<String, JsError> {
    let d = dataset(spec)?;
    let file = pick_data_file(tree_json, d.file.as_deref()).map_err(|e| JsError::new(&format!("{d}: {e}")))?;
    Ok(json!({
        "name": if d.file.is_some() { d.to_string() } else { format!("{d}/{}", file.path) }, "path": file.path, "size": file.size,
        "url": d.resolve_url(hub, &file.path),
    })
    .to_string())
}
