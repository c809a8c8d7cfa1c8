//! The Hub for the page: model and dataset ids, their URLs, what a file listing says, and
//! which file of a dataset to fetch. The rules live in [`crate::hub`]; the page's JS only
//! fetches the URLs given here.

use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::hub::{file_info, pick_data_file, HubRef, DEFAULT_HUB, MODEL_FILES};

fn hub_ref(spec: &str) -> Result<HubRef, JsError> {
    match HubRef::parse(spec) {
        Some(parsed) => Ok(parsed?),
        None => Err(JsError::new(&format!("`{spec}` does not start with hub:"))),
    }
}

/// The Hub the page uses unless told otherwise.
#[wasm_bindgen]
pub fn default_hub() -> String {
    DEFAULT_HUB.to_string()
}

/// `{hub, repo, revision, name, urls: {file: url}, tree}` of a `hub:<owner>/<name>[@revision]`
/// model on `hub`: the URL of each file a run reads and of the repository's file listing;
/// `name` names its results. Throws if the spec is not a model repository.
#[wasm_bindgen]
pub fn hub_model(spec: &str, hub: &str) -> Result<String, JsError> {
    let model = hub_ref(spec)?;
    if model.file.is_some() {
        return Err(JsError::new(&format!("`{spec}`: a model is a whole repository (owner/name[@revision])")));
    }
    let urls: serde_json::Map<String, serde_json::Value> =
        MODEL_FILES.iter().map(|file| (file.to_string(), model.model_file_url(hub, file).into())).collect();
    Ok(json!({
        "hub": hub.trim_end_matches('/'), "repo": model.id, "revision": model.revision, "name": model.model_name(),
        "urls": urls, "tree": model.model_tree_url(hub),
    })
    .to_string())
}

/// What a model's file listing (the tree API's JSON) says of each file: `{path: {size, sha256}}`,
/// empty when the listing is not one.
#[wasm_bindgen]
pub fn hub_file_info(tree_json: &[u8]) -> String {
    serde_json::to_string(&file_info(tree_json)).expect("file info serialises")
}

/// `{name, tree_url}` of a `hub:<id>[@revision][:<file>]` spec on `hub`; throws if the spec is malformed.
#[wasm_bindgen]
pub fn hub_dataset(spec: &str, hub: &str) -> Result<String, JsError> {
    let d = hub_ref(spec)?;
    Ok(json!({ "name": d.to_string(), "tree_url": d.tree_url(hub) }).to_string())
}

/// `{name, path, size, url}` of the data file picked from the dataset's file list (the tree
/// API's JSON); throws with what the dataset holds when no file fits.
#[wasm_bindgen]
pub fn hub_data_file(spec: &str, hub: &str, tree_json: &[u8]) -> Result<String, JsError> {
    let d = hub_ref(spec)?;
    let file = pick_data_file(tree_json, d.file.as_deref()).map_err(|e| JsError::new(&format!("{d}: {e}")))?;
    Ok(json!({
        "name": if d.file.is_some() { d.to_string() } else { format!("{d}/{}", file.path) }, "path": file.path, "size": file.size,
        "url": d.resolve_url(hub, &file.path),
    })
    .to_string())
}
