//! The Hub for the page: model and dataset ids, their URLs, what a file listing says, and
//! which file of a dataset to fetch. The rules live in [`crate::hub`]; the page's JS only
//! fetches the URLs given here.

use serde_json::json;
use wasm_bindgen::prelude::*;

use crate::checkpoint::files::folder_model_files;
use crate::hub::{file_info, pick_data_file, weights_info, HubRef, DEFAULT_HUB};

/// A Hub repository as the page names it, `hub:` or not.
fn hub_ref(spec: &str) -> Result<HubRef, JsError> {
    match HubRef::parse_named(spec.trim()) {
        Some(parsed) => Ok(parsed?),
        None => Err(JsError::new("no Hub repository is named")),
    }
}

/// The Hub the page uses unless told otherwise.
#[wasm_bindgen]
pub fn default_hub() -> String {
    DEFAULT_HUB.to_string()
}

/// `{hub, repo, revision, name, spec, tree}` of a `[hub:]<owner>/<name>[@revision]` model on
/// `hub`: `tree` is the URL of the repository's file listing, `name` names its results
/// (`pythia-160m@step3000`), `spec` names it in lists and links (`@main` left out). Throws if
/// the spec is not a model repository.
#[wasm_bindgen]
pub fn hub_model(spec: &str, hub: &str) -> Result<String, JsError> {
    let model = hub_ref(spec)?;
    if model.file.is_some() {
        return Err(JsError::new(&format!("`{spec}`: a model is a whole repository (owner/name[@revision])")));
    }
    Ok(json!({
        "hub": hub.trim_end_matches('/'), "repo": model.id, "revision": model.revision, "name": model.result_name(),
        "spec": model.spec(), "tree": model.model_tree_url(hub),
    })
    .to_string())
}

/// How lists and links name the model `repo` at `revision`: `repo`, or `repo@revision`.
#[wasm_bindgen]
pub fn hub_model_spec(repo: &str, revision: &str) -> String {
    HubRef { id: repo.to_string(), revision: revision.to_string(), file: None }.spec()
}

/// The URL of `file` of the model `repo` at `revision` on `hub`.
#[wasm_bindgen]
pub fn hub_model_file_url(hub: &str, repo: &str, revision: &str, file: &str) -> String {
    HubRef { id: repo.to_string(), revision: revision.to_string(), file: None }.model_file_url(hub, file)
}

/// What a model's file listing (the tree API's JSON) says: `{files: {path: {size, sha256}},
/// weights: {file, bytes, sha256} | null}`, `files` empty when the listing is not one.
#[wasm_bindgen]
pub fn hub_file_info(tree_json: &[u8]) -> String {
    let files = file_info(tree_json);
    json!({ "weights": weights_info(&files), "files": files }).to_string()
}

/// The files a run reads of a folder holding the files `names` (a JSON array), the weights
/// last; throws saying what is missing when it holds no model.
#[wasm_bindgen]
pub fn model_folder_files(names: &str) -> Result<Vec<String>, JsError> {
    let names: Vec<String> = serde_json::from_str(names).map_err(|e| JsError::new(&format!("file names: {e}")))?;
    Ok(folder_model_files(&names).map_err(|e| JsError::new(&e))?.into_iter().map(str::to_string).collect())
}

/// `{name, tree_url}` of a `[hub:]<id>[@revision][:<file>]` spec on `hub`; throws if the spec is malformed.
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
