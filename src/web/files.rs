//! The model files a job reads, provided by `files.js`: Hub downloads through the browser's
//! cache, or files the user picked. Each file is read as a stream of chunks.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use crate::checkpoint::{FileChunks, ModelSource};

#[wasm_bindgen]
extern "C" {
    /// `ModelFiles` in `files.js`: opens file `name` of model `model` of the job.
    pub type ModelFiles;
    #[wasm_bindgen(method, catch)]
    async fn open(this: &ModelFiles, model: u32, name: &str) -> Result<JsValue, JsValue>;
    /// The names of the files model `model` has (the Hub's listing, or the folder's), or
    /// `null` when the server gives no listing.
    #[wasm_bindgen(method, catch)]
    async fn listed(this: &ModelFiles, model: u32) -> Result<JsValue, JsValue>;
    /// Tells which files model `model` was loaded from (the cache marks the model complete).
    #[wasm_bindgen(method, catch)]
    async fn loaded(this: &ModelFiles, model: u32, files: Vec<String>) -> Result<JsValue, JsValue>;

    /// A file being read: `next()` gives the next `Uint8Array`, or `null` at the end.
    pub type ChunkReader;
    #[wasm_bindgen(method, catch)]
    async fn next(this: &ChunkReader) -> Result<JsValue, JsValue>;
    /// The file's size in bytes, when the server said.
    #[wasm_bindgen(method, getter)]
    fn size(this: &ChunkReader) -> Option<f64>;
}

impl ModelFiles {
    pub async fn open_file(&self, model: u32, name: &str) -> Result<ChunkReader, String> {
        self.open(model, name).await.map(JsCast::unchecked_into).map_err(js_message)
    }

    pub async fn listed_files(&self, model: u32) -> Result<Option<Vec<String>>, String> {
        let value = self.listed(model).await.map_err(js_message)?;
        if value.is_null() || value.is_undefined() {
            return Ok(None);
        }
        let names: js_sys::Array = value.dyn_into().map_err(|_| "the file listing is not a list of names".to_string())?;
        Ok(Some(names.iter().filter_map(|n| n.as_string()).collect()))
    }

    pub async fn loaded_from(&self, model: u32, files: Vec<String>) -> Result<(), String> {
        self.loaded(model, files).await.map(drop).map_err(js_message)
    }
}

impl FileChunks for ChunkReader {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
        let value = self.next().await.map_err(js_message)?;
        Ok((!value.is_null() && !value.is_undefined()).then(|| Uint8Array::new(&value).to_vec()))
    }

    fn size(&self) -> Option<u64> {
        ChunkReader::size(self).map(|s| s as u64)
    }
}

/// Model `index` of a job, as the loader reads it.
pub struct JobModel<'a> {
    pub files: &'a ModelFiles,
    pub index: u32,
}

impl ModelSource for JobModel<'_> {
    type File = ChunkReader;

    async fn file_names(&self) -> Result<Option<Vec<String>>, String> {
        self.files.listed_files(self.index).await
    }

    async fn open(&self, name: &str) -> Result<ChunkReader, String> {
        self.files.open_file(self.index, name).await
    }
}

/// The message of a thrown JS value (an `Error` or anything else).
pub fn js_message(value: JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}
