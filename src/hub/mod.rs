//! Repositories on the Hugging Face Hub, or on any server with its URL layout. A spec names one
//! as `hub:<id>[@revision][:<file>]`; the file is only for datasets that hold several tasks.
//! A model's files are at `{hub}/{id}/resolve/{revision}/{file}`, and its file listing, which
//! gives the SHA-256 of each large file, at `{hub}/api/models/{id}/tree/{revision}`. For a task
//! published as a dataset, the listing (`{hub}/api/datasets/{id}/tree/{revision}`, a JSON array
//! of `{type, path, size}`) says which file holds the data, and
//! `{hub}/datasets/{id}/resolve/{revision}/{path}` serves it. Nothing here touches the network:
//! the CLI and the page fetch, this module builds the URLs and reads the listings.

use serde::Deserialize;

use crate::checkpoint::files::model_files;

#[cfg(not(target_family = "wasm"))]
pub mod download;

pub const DEFAULT_HUB: &str = "https://huggingface.co";

/// What a listing says of a model's weights: the file a run reads first (the weights, or the
/// index of their shards), and their size in bytes (all shards counted).
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WeightsInfo {
    pub file: String,
    pub bytes: u64,
    /// The SHA-256 of a single weights file, when the listing gives it.
    pub sha256: Option<String>,
}

/// The weights [`model_files`] picks from `listing` (a tree listing's [`file_info`]), or
/// `None` when it lists none.
pub fn weights_info(listing: &std::collections::HashMap<String, FileInfo>) -> Option<WeightsInfo> {
    let names: Vec<String> = listing.keys().cloned().collect();
    let file = *model_files(Some(&names)).last()?;
    let info = listing.get(file)?;
    let Some(kind) = file.strip_suffix(".index.json") else {
        return Some(WeightsInfo { file: file.to_string(), bytes: info.size, sha256: info.sha256.clone() });
    };
    // The shards are named after the kind of weights (`model-00001-of-00002.safetensors`).
    let extension = kind.rsplit('.').next().unwrap_or(kind);
    let shard = |path: &str| path.ends_with(&format!(".{extension}")) && path.contains("-of-");
    let bytes = listing.iter().filter(|(path, _)| shard(path)).map(|(_, i)| i.size).sum();
    Some(WeightsInfo { file: file.to_string(), bytes, sha256: None })
}

/// What `hub:` names: a model or dataset repository and a revision (branch, tag or commit;
/// default `main`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubRef {
    pub id: String,
    pub revision: String,
    /// The dataset file to read, when the dataset holds several tasks (`:<path>`).
    pub file: Option<String>,
}

/// Why a `hub:` spec names no repository; each variant holds the spec.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HubRefError {
    #[error("`{0}`: after `:` comes a file of the dataset, e.g. data/test.jsonl")]
    File(String),
    #[error("`{0}` is not a Hub repository: expected hub:<owner>/<name>[@revision], e.g. hub:inverse-scaling/NeQA")]
    Repository(String),
    #[error("`{0}`: the revision after @ must be a branch, tag or commit")]
    Revision(String),
}

/// Why no data file of a dataset could be picked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DataFileError {
    #[error("the Hub's file list is not what was expected: {0}")]
    Listing(String),
    #[error("the dataset has no file {wanted} (it has: {})", .files.join(", "))]
    NoSuchFile { wanted: String, files: Vec<String> },
    #[error("{path} is one of {shards} Parquet shards of a split; tasks are read from one file (name one with hub:<id>:<file>)")]
    Sharded { path: String, shards: usize },
    #[error("the dataset has no JSONL, CSV, JSON or Parquet file{}", if .files.is_empty() { String::new() } else { format!(" (it has: {})", .files.join(", ")) })]
    NoTaskFile { files: Vec<String> },
}

/// The formats the task parser reads, most preferred first.
const FORMATS: [&str; 3] = ["jsonl", "csv", "json"];

impl HubRef {
    /// `None` when `spec` does not start with `hub:` (it is a file then); otherwise the dataset
    /// or why the spec is not one.
    pub fn parse(spec: &str) -> Option<Result<HubRef, HubRefError>> {
        let rest = spec.strip_prefix("hub:")?;
        // `:` cannot occur in a repository id or a git ref, so the first one starts the file.
        let (rest, file) = match rest.split_once(':') {
            Some((rest, file)) => (rest, Some(file)),
            None => (rest, None),
        };
        if let Some(file) = file {
            if file.is_empty()
                || file.starts_with('/')
                || file.split('/').any(|p| p.is_empty() || p == "." || p == "..")
                || file.contains(['?', '#', '\\'])
            {
                return Some(Err(HubRefError::File(spec.to_string())));
            }
        }
        let (id, revision) = match rest.split_once('@') {
            Some((id, rev)) => (id, rev),
            None => (rest, "main"),
        };
        let valid_part =
            |p: &str| !p.is_empty() && p != "." && p != ".." && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        let parts: Vec<&str> = id.split('/').collect();
        if parts.is_empty() || parts.len() > 2 || !parts.iter().all(|p| valid_part(p)) {
            return Some(Err(HubRefError::Repository(spec.to_string())));
        }
        if revision.is_empty() || revision.contains(['/', '?', '#', ' ']) && !revision.starts_with("refs/") {
            return Some(Err(HubRefError::Revision(spec.to_string())));
        }
        Some(Ok(HubRef { id: id.to_string(), revision: revision.to_string(), file: file.map(str::to_string) }))
    }

    /// A repository as the page's lists and links name it, where `hub:` may be left out:
    /// `None` when `spec` is not one (a file path), as for [`HubRef::parse`].
    pub fn parse_named(spec: &str) -> Option<Result<HubRef, HubRefError>> {
        match spec.strip_prefix("hub:") {
            Some(_) => HubRef::parse(spec),
            None if spec.is_empty() => None,
            None => HubRef::parse(&format!("hub:{spec}")),
        }
    }

    /// How lists and links name the repository: `owner/name`, with `@revision` unless it is
    /// `main` (the inverse of [`HubRef::parse_named`]).
    pub fn spec(&self) -> String {
        match self.revision.as_str() {
            "main" => self.id.clone(),
            revision => format!("{}@{revision}", self.id),
        }
    }

    /// The revision when it is not `main`: what results record of it.
    pub fn named_revision(&self) -> Option<&str> {
        Some(self.revision.as_str()).filter(|r| *r != "main")
    }

    /// What a model's results are named after: the repository's name without its owner.
    pub fn model_name(&self) -> &str {
        self.id.rsplit('/').next().unwrap_or(&self.id)
    }

    /// What a model's results are named after: the repository's name, and the revision unless
    /// it is `main` (`pythia-160m@step3000`), so that one model's training steps do not
    /// overwrite each other's files. A `/` of the revision becomes `_`.
    pub fn result_name(&self) -> String {
        match self.revision.as_str() {
            "main" => self.model_name().to_string(),
            revision => format!("{}@{}", self.model_name(), revision.replace('/', "_")),
        }
    }

    /// One file of a model repository.
    pub fn model_file_url(&self, hub: &str, file: &str) -> String {
        format!("{}/{}/resolve/{}/{}", hub.trim_end_matches('/'), self.id, encode(&self.revision), encode(file))
    }

    /// A model repository's files, with the SHA-256 of its large (LFS) files.
    pub fn model_tree_url(&self, hub: &str) -> String {
        format!("{}/api/models/{}/tree/{}", hub.trim_end_matches('/'), self.id, encode(&self.revision))
    }

    /// The dataset's files, all folders included.
    pub fn tree_url(&self, hub: &str) -> String {
        format!("{}/api/datasets/{}/tree/{}?recursive=true", hub.trim_end_matches('/'), self.id, encode(&self.revision))
    }

    /// One file of the dataset.
    pub fn resolve_url(&self, hub: &str, path: &str) -> String {
        let path: Vec<String> = path.split('/').map(encode).collect();
        format!("{}/datasets/{}/resolve/{}/{}", hub.trim_end_matches('/'), self.id, encode(&self.revision), path.join("/"))
    }
}

impl std::fmt::Display for HubRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hub:{}@{}", self.id, self.revision)?;
        match &self.file {
            Some(file) => write!(f, ":{file}"),
            None => Ok(()),
        }
    }
}

/// One entry of the tree listing.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TreeEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub size: u64,
    /// Set for files stored with Git LFS: `oid` is the file's SHA-256.
    #[serde(default)]
    pub lfs: Option<LfsInfo>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct LfsInfo {
    pub oid: String,
    /// The file's size (the entry's own `size` is the LFS pointer's on some servers).
    #[serde(default)]
    pub size: Option<u64>,
}

/// What a tree listing says of one file.
#[cfg_attr(target_family = "wasm", derive(tsify::Tsify), tsify(missing_as_null))]
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FileInfo {
    pub size: u64,
    /// The SHA-256 of a large (LFS) file, lowercase hex.
    pub sha256: Option<String>,
}

/// Each file of a tree listing, by path; empty when the listing is not one.
pub fn file_info(tree_json: &[u8]) -> std::collections::HashMap<String, FileInfo> {
    let entries: Vec<TreeEntry> = serde_json::from_slice(tree_json).unwrap_or_default();
    entries
        .into_iter()
        .filter(|e| e.kind == "file")
        .map(|e| {
            let size = e.lfs.as_ref().and_then(|l| l.size).unwrap_or(e.size);
            (e.path, FileInfo { size, sha256: e.lfs.map(|l| l.oid.to_ascii_lowercase()) })
        })
        .collect()
}

/// The SHA-256 of each large file in a tree listing, by path; empty when the listing is not one.
/// The paths of the files a tree listing holds.
pub fn listed_files(tree_json: &[u8]) -> Vec<String> {
    file_info(tree_json).into_keys().collect()
}

pub fn lfs_sha256(tree_json: &[u8]) -> std::collections::HashMap<String, String> {
    file_info(tree_json).into_iter().filter_map(|(path, info)| Some((path, info.sha256?))).collect()
}

/// Picks the data file from a tree listing: a JSONL file if there is one, else CSV, else JSON,
/// else Parquet (metadata such as `dataset_infos.json` aside); among several of that format,
/// the largest (the full set rather than a sample); or the file `wanted` names. Errors say
/// what the dataset holds instead.
pub fn pick_data_file(tree_json: &[u8], wanted: Option<&str>) -> Result<TreeEntry, DataFileError> {
    let entries: Vec<TreeEntry> = serde_json::from_slice(tree_json).map_err(|e| DataFileError::Listing(e.to_string()))?;
    if let Some(wanted) = wanted {
        if let Some(entry) = entries.iter().find(|e| e.kind == "file" && e.path == wanted) {
            return Ok(entry.clone());
        }
        let files = entries.iter().filter(|e| e.kind == "file").map(|e| e.path.clone()).collect();
        return Err(DataFileError::NoSuchFile { wanted: wanted.to_string(), files });
    }
    let extension = |p: &str| p.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let is_metadata = |p: &str| {
        let name = p.rsplit('/').next().unwrap_or(p).to_ascii_lowercase();
        name.starts_with("dataset_info") || name.starts_with('.') || name == "config.json"
    };
    let files: Vec<&TreeEntry> = entries.iter().filter(|e| e.kind == "file" && !is_metadata(&e.path)).collect();
    for format in FORMATS {
        if let Some(best) = files.iter().filter(|e| extension(&e.path) == format).max_by_key(|e| e.size) {
            return Ok((*best).clone());
        }
    }
    // Parquet last: datasets uploaded with `datasets` hold only that.
    if let Some(best) = files.iter().filter(|e| extension(&e.path) == "parquet").max_by_key(|e| e.size) {
        if let Some(shards) = shard_count(&best.path).filter(|&n| n > 1) {
            return Err(DataFileError::Sharded { path: best.path.clone(), shards });
        }
        return Ok((*best).clone());
    }
    Err(DataFileError::NoTaskFile { files: files.iter().map(|e| e.path.clone()).collect() })
}

/// N of a shard named like `train-00000-of-0000N.parquet`.
fn shard_count(path: &str) -> Option<usize> {
    let stem = path.rsplit('/').next()?.rsplit_once('.')?.0;
    let (_, of) = stem.rsplit_once("-of-")?;
    of.parse().ok()
}

/// Percent-encodes one URL path segment.
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(HubRef::parse("tasks/a.csv"), None);
        let d = HubRef::parse("hub:inverse-scaling/NeQA").unwrap().unwrap();
        assert_eq!(d, HubRef { id: "inverse-scaling/NeQA".into(), revision: "main".into(), file: None });
        let info = |size: u64, sha: Option<&str>| FileInfo { size, sha256: sha.map(str::to_string) };
        let single: std::collections::HashMap<_, _> =
            [("config.json".to_string(), info(9, None)), ("pytorch_model.bin".to_string(), info(500, Some("ab")))].into();
        let w = weights_info(&single).unwrap();
        assert_eq!((w.file.as_str(), w.bytes, w.sha256.as_deref()), ("pytorch_model.bin", 500, Some("ab")));
        let sharded: std::collections::HashMap<_, _> = [
            ("model.safetensors.index.json".to_string(), info(30, None)),
            ("model-00001-of-00002.safetensors".to_string(), info(100, Some("a"))),
            ("model-00002-of-00002.safetensors".to_string(), info(50, Some("b"))),
        ]
        .into();
        assert_eq!(weights_info(&sharded).unwrap(), WeightsInfo { file: "model.safetensors.index.json".into(), bytes: 150, sha256: None });
        let step = HubRef::parse("hub:EleutherAI/pythia-160m@step3000").unwrap().unwrap();
        assert_eq!((step.result_name().as_str(), d.result_name().as_str()), ("pythia-160m@step3000", "NeQA"));
        // As the page's lists and links name them: `hub:` left out, `@main` too.
        assert_eq!(HubRef::parse_named("EleutherAI/pythia-160m@step3000").unwrap().unwrap(), step);
        assert_eq!(HubRef::parse_named("inverse-scaling/NeQA").unwrap().unwrap(), d);
        assert_eq!((step.spec().as_str(), d.spec().as_str()), ("EleutherAI/pythia-160m@step3000", "inverse-scaling/NeQA"));
        assert_eq!((step.named_revision(), d.named_revision()), (Some("step3000"), None));
        assert_eq!(HubRef::parse_named(""), None);
        assert!(HubRef::parse_named("a/b/c").unwrap().is_err());
        let d = HubRef::parse("hub:owner/prize@v2:data/memo-trap.jsonl").unwrap().unwrap();
        assert_eq!((d.revision.as_str(), d.file.as_deref()), ("v2", Some("data/memo-trap.jsonl")));
        assert_eq!(d.to_string(), "hub:owner/prize@v2:data/memo-trap.jsonl");
        assert_eq!(HubRef::parse("hub:owner/prize:a.jsonl").unwrap().unwrap().revision, "main");
        let d = HubRef::parse("hub:owner/name@v1.0").unwrap().unwrap();
        assert_eq!(d.revision, "v1.0");
        assert_eq!(d.to_string(), "hub:owner/name@v1.0");
        for bad in [
            "hub:",
            "hub:a/b/c",
            "hub:../x",
            "hub:a/b@",
            "hub:a b/c",
            "hub:a/b@x y",
            "hub:a/b:",
            "hub:a/b:../x",
            "hub:a/b:/x",
            "hub:a/b:x//y",
        ] {
            assert!(HubRef::parse(bad).unwrap().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_hubs_converted_parquet_branch_is_a_revision_sent_encoded() {
        // What the Hub converts every dataset to: `refs/convert/parquet`, one path segment in URLs.
        let d = HubRef::parse("hub:owner/data@refs/convert/parquet").unwrap().unwrap();
        assert_eq!(d.revision, "refs/convert/parquet");
        assert_eq!(d.tree_url("https://hub.test"), "https://hub.test/api/datasets/owner/data/tree/refs%2Fconvert%2Fparquet?recursive=true");
        assert_eq!(
            d.resolve_url("https://hub.test", "default/train/0000.parquet"),
            "https://hub.test/datasets/owner/data/resolve/refs%2Fconvert%2Fparquet/default/train/0000.parquet"
        );
        assert!(HubRef::parse("hub:owner/data@heads/x").unwrap().is_err(), "a slash outside refs/ is not a revision");
    }

    #[test]
    fn urls_follow_the_hub_layout() {
        let m = HubRef::parse("hub:openai-community/gpt2").unwrap().unwrap();
        assert_eq!(
            m.model_file_url("https://huggingface.co", "config.json"),
            "https://huggingface.co/openai-community/gpt2/resolve/main/config.json"
        );
        let d = HubRef::parse("hub:inverse-scaling/NeQA@main").unwrap().unwrap();
        assert_eq!(
            d.tree_url("https://huggingface.co/"),
            "https://huggingface.co/api/datasets/inverse-scaling/NeQA/tree/main?recursive=true"
        );
        assert_eq!(
            d.resolve_url("http://127.0.0.1:9/", "data/my file.jsonl"),
            "http://127.0.0.1:9/datasets/inverse-scaling/NeQA/resolve/main/data/my%20file.jsonl"
        );
    }

    #[test]
    fn picks_jsonl_then_csv_then_json_and_the_largest() {
        let tree = br#"[
            {"type": "file", "path": ".gitattributes", "size": 2000},
            {"type": "file", "path": "README.md", "size": 900},
            {"type": "file", "path": "dataset_infos.json", "size": 5000},
            {"type": "directory", "path": "data", "size": 0},
            {"type": "file", "path": "data/sample.csv", "size": 10},
            {"type": "file", "path": "data/full.csv", "size": 100},
            {"type": "file", "path": "extra.json", "size": 1000}
        ]"#;
        assert_eq!(pick_data_file(tree, None).unwrap().path, "data/full.csv");
        let tree = br#"[{"type": "file", "path": "a.json", "size": 5}, {"type": "file", "path": "b.JSONL", "size": 1}]"#;
        assert_eq!(pick_data_file(tree, None).unwrap().path, "b.JSONL");
        // A named file wins over the rules, and a missing one lists what there is.
        assert_eq!(pick_data_file(tree, Some("a.json")).unwrap().path, "a.json");
        assert_eq!(pick_data_file(tree, Some("c.csv")).unwrap_err().to_string(), "the dataset has no file c.csv (it has: a.json, b.JSONL)");
    }

    #[test]
    fn says_what_the_dataset_holds_when_nothing_fits() {
        let parquet = br#"[{"type": "file", "path": "README.md", "size": 9}, {"type": "file", "path": "data/test-00000-of-00001.parquet", "size": 5}, {"type": "file", "path": "data/train-00000-of-00001.parquet", "size": 7}]"#;
        assert_eq!(pick_data_file(parquet, None).unwrap().path, "data/train-00000-of-00001.parquet");
        let shards = br#"[{"type": "file", "path": "data/train-00001-of-00002.parquet", "size": 7}]"#;
        assert_eq!(
            pick_data_file(shards, None).unwrap_err().to_string(),
            "data/train-00001-of-00002.parquet is one of 2 Parquet shards of a split; tasks are read from one file (name one with hub:<id>:<file>)"
        );
        let other = br#"[{"type": "file", "path": "README.md", "size": 5}]"#;
        assert_eq!(
            pick_data_file(other, None).unwrap_err().to_string(),
            "the dataset has no JSONL, CSV, JSON or Parquet file (it has: README.md)"
        );
        assert!(pick_data_file(b"{\"error\": \"Repository not found\"}", None).unwrap_err().to_string().starts_with("the Hub's file list"));
    }
}
