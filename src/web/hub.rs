//! The Hub for the page: model and dataset ids, their URLs, what a file listing says, and
//! which file of a dataset to fetch. The rules live in [`crate::hub`]; the page's JS only
//! fetches the URLs given here.

use std::collections::HashMap;

use serde::Serialize;
use tsify::{Ts, Tsify};
use wasm_bindgen::prelude::*;

use super::boundary::to_page;
use crate::checkpoint::files::folder_model_files;
use crate::hub::{file_info, pick_data_file, weights_info, FileInfo, HubRef, WeightsInfo, DEFAULT_HUB};

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

/// A model repository on a Hub.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct HubModel {
    hub: String,
    repo: String,
    revision: String,
    /// Names its results (`pythia-160m@step3000`).
    name: String,
    /// Names it in lists and links (`@main` left out).
    spec: String,
    /// The URL of the repository's file listing.
    tree: String,
}

/// A `[hub:]<owner>/<name>[@revision]` model on `hub`. Throws if the spec is not a model
/// repository.
#[wasm_bindgen]
pub fn hub_model(spec: &str, hub: &str) -> Result<Ts<HubModel>, JsError> {
    let model = hub_ref(spec)?;
    if model.file.is_some() {
        return Err(JsError::new(&format!("`{spec}`: a model is a whole repository (owner/name[@revision])")));
    }
    to_page(&HubModel {
        hub: hub.trim_end_matches('/').to_string(),
        name: model.result_name(),
        spec: model.spec(),
        tree: model.model_tree_url(hub),
        repo: model.id,
        revision: model.revision,
    })
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

/// What a model's file listing says.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null, hashmap_as_object)]
pub struct FileListing {
    /// Each file by path; empty when the listing is not one.
    files: HashMap<String, FileInfo>,
    weights: Option<WeightsInfo>,
}

/// What a model's file listing (the tree API's JSON) says.
#[wasm_bindgen]
pub fn hub_file_info(tree_json: &[u8]) -> Result<Ts<FileListing>, JsError> {
    let files = file_info(tree_json);
    to_page(&FileListing { weights: weights_info(&files), files })
}

/// The files a run reads of a folder holding the files `names`, the weights last; throws
/// saying what is missing when it holds no model.
#[wasm_bindgen]
pub fn model_folder_files(names: Vec<String>) -> Result<Vec<String>, JsError> {
    Ok(folder_model_files(&names).map_err(|e| JsError::new(&e))?.into_iter().map(str::to_string).collect())
}

/// A dataset on a Hub: its name, and the URL of its file listing.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct HubDataset {
    name: String,
    tree_url: String,
}

/// A `[hub:]<id>[@revision][:<file>]` dataset on `hub`; throws if the spec is malformed.
#[wasm_bindgen]
pub fn hub_dataset(spec: &str, hub: &str) -> Result<Ts<HubDataset>, JsError> {
    let d = hub_ref(spec)?;
    to_page(&HubDataset { name: d.to_string(), tree_url: d.tree_url(hub) })
}

/// The file of a dataset a task is read from.
#[derive(Serialize, Tsify)]
#[tsify(missing_as_null)]
pub struct HubDataFile {
    name: String,
    path: String,
    size: u64,
    url: String,
}

/// The data file picked from the dataset's file list (the tree API's JSON); throws with what
/// the dataset holds when no file fits.
#[wasm_bindgen]
pub fn hub_data_file(spec: &str, hub: &str, tree_json: &[u8]) -> Result<Ts<HubDataFile>, JsError> {
    let d = hub_ref(spec)?;
    let file = pick_data_file(tree_json, d.file.as_deref()).map_err(|e| JsError::new(&format!("{d}: {e}")))?;
    let name = if d.file.is_some() { d.to_string() } else { format!("{d}/{}", file.path) };
    to_page(&HubDataFile { name, url: d.resolve_url(hub, &file.path), path: file.path, size: file.size })
}
