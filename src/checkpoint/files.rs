//! Which files of a model repository or folder a run reads: the config, the tokenizer (one
//! file, or a vocabulary and merges), and the weights (one file, or a sharded checkpoint's
//! index and its shards). One rule for the CLI's folders and downloads and the page's files.

/// The files of a model repository that a run reads.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// The tokenizer files of repositories without `tokenizer.json` (OPT, Cerebras-GPT); the
/// last is optional.
pub const VOCAB_MERGES_FILES: [&str; 3] = ["vocab.json", "merges.txt", "tokenizer_config.json"];

/// The weights of repositories without `model.safetensors` (OPT's, Pythia's step revisions).
pub const PICKLE_WEIGHTS: &str = "pytorch_model.bin";

/// The weights files a repository may hold, in order of preference: one file, or the index of
/// a sharded checkpoint (which names the shards).
pub const WEIGHTS_FILES: [&str; 4] = ["model.safetensors", "model.safetensors.index.json", PICKLE_WEIGHTS, "pytorch_model.bin.index.json"];

/// The most shards an index may name: each is a download, and the largest published
/// checkpoints have a few hundred.
pub const MAX_SHARDS: usize = 10_000;

/// The shards a sharded checkpoint's index (`*.index.json`, its `weight_map`) names, each
/// once, in order. A shard is a file beside the index: a name with a path is refused.
pub fn shard_files(index_json: &[u8]) -> Result<Vec<String>, String> {
    let index: serde_json::Value = serde_json::from_slice(index_json).map_err(|e| format!("the index is not JSON: {e}"))?;
    let map = index["weight_map"].as_object().ok_or("the index has no `weight_map` object")?;
    let mut shards = std::collections::BTreeSet::new();
    for (tensor, file) in map {
        let file = file.as_str().ok_or_else(|| format!("the shard of `{tensor}` is not a file name"))?;
        if file.is_empty() || file.starts_with('.') || file.contains(['/', '\\']) {
            return Err(format!("the shard of `{tensor}` is `{file}`, not a file beside the index"));
        }
        shards.insert(file);
        if shards.len() > MAX_SHARDS {
            return Err(format!("the index names more than {MAX_SHARDS} shards; a checkpoint has a few hundred at most"));
        }
    }
    Ok(shards.into_iter().map(str::to_string).collect())
}

/// The files to download for a model whose repository lists `listed`: [`MODEL_FILES`], with
/// `vocab.json` + `merges.txt` (and `tokenizer_config.json` where listed) in place of a
/// `tokenizer.json` the repository lacks, and the first of [`WEIGHTS_FILES`] listed in place
/// of a missing `model.safetensors`. Without a listing, [`MODEL_FILES`].
pub fn model_files(listed: Option<&[String]>) -> Vec<&'static str> {
    let has = |file: &str| listed.is_none_or(|l| l.iter().any(|f| f == file));
    let mut files = vec!["config.json"];
    if has("tokenizer.json") || !has("vocab.json") {
        files.push("tokenizer.json");
    } else {
        let [vocab, merges, config] = VOCAB_MERGES_FILES;
        files.extend([vocab, merges]);
        if has(config) {
            files.push(config);
        }
    }
    files.push(WEIGHTS_FILES.into_iter().find(|f| listed.is_none() || has(f)).unwrap_or("model.safetensors"));
    files
}

/// The files of a model folder (`names` lists what it holds), as [`model_files`] picks them;
/// an error saying what is missing when it is no model.
pub fn folder_model_files(names: &[String]) -> Result<Vec<&'static str>, String> {
    let files = model_files(Some(names));
    match files.iter().find(|f| !names.iter().any(|n| n == *f)) {
        None => Ok(files),
        Some(missing) => Err(format!(
            "it has no {missing}: a model folder holds config.json, a tokenizer (tokenizer.json, or vocab.json and merges.txt) \
             and weights ({})",
            WEIGHTS_FILES.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_and_the_files_a_model_is_read_from() {
        let shards = shard_files(br#"{"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00001-of-00002.safetensors"}}"#);
        assert_eq!(shards.unwrap(), ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]);
        for bad in ["../x.safetensors", "/etc/passwd", ".hidden", "a\\\\b"] {
            let index = serde_json::json!({ "weight_map": { "w": bad } }).to_string();
            assert!(shard_files(index.as_bytes()).unwrap_err().contains("not a file beside the index"), "{bad}");
        }
        let listed = |files: &[&str]| model_files(Some(&files.iter().map(|f| f.to_string()).collect::<Vec<_>>()));
        assert_eq!(listed(&["config.json", "tokenizer.json", "model.safetensors.index.json"])[2], "model.safetensors.index.json");
        assert_eq!(
            listed(&["config.json", "vocab.json", "merges.txt", "pytorch_model.bin"]),
            ["config.json", "vocab.json", "merges.txt", "pytorch_model.bin"]
        );
        let names = |files: &[&str]| files.iter().map(|f| f.to_string()).collect::<Vec<_>>();
        let opt = names(&["config.json", "vocab.json", "merges.txt", "pytorch_model.bin", "README.md"]);
        assert_eq!(folder_model_files(&opt).unwrap(), ["config.json", "vocab.json", "merges.txt", "pytorch_model.bin"]);
        assert!(folder_model_files(&names(&["config.json", "tokenizer.json"])).unwrap_err().contains("no model.safetensors"));
        assert!(folder_model_files(&names(&["config.json", "model.safetensors"])).unwrap_err().contains("no tokenizer.json"));
    }

    /// An index naming a million shards (24 MB, under the cap on a JSON file) was read in
    /// quadratic time, each name compared with every one before it (hours); now it is refused
    /// after the first 10,001.
    #[test]
    fn an_index_of_a_million_shards_is_refused_at_once() {
        let map: serde_json::Map<String, serde_json::Value> = (0..1_000_000).map(|i| (format!("t{i}"), format!("s{i}").into())).collect();
        let index = serde_json::json!({ "weight_map": map }).to_string();
        assert_eq!(
            shard_files(index.as_bytes()).unwrap_err(),
            "the index names more than 10000 shards; a checkpoint has a few hundred at most"
        );
    }
}
