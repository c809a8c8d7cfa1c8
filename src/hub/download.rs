//! Native downloads from the Hub for the CLI: task files, and model files kept in a cache so
//! each is fetched once. A model file arrives as `<file>.part` and is renamed when complete; an
//! interrupted download resumes from the bytes already there (HTTP Range). Large files are
//! checked against the SHA-256 the Hub's file list gives; a corrupt one is downloaded again.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::checkpoint::files::{model_files, shard_files, WEIGHTS_FILES};
use crate::checksum::{ChecksumMismatch, DownloadCheck, Verdict};
use crate::hub::{lfs_sha256, listed_files, HubRef};

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{url}: the body is larger than {limit} bytes")]
    TooLarge { url: String, limit: u64 },
    #[error(transparent)]
    Corrupt(#[from] ChecksumMismatch),
    #[error("{file}: {message}")]
    Index { file: String, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DownloadError + '_ {
    move |source| DownloadError::Io { path: path.to_path_buf(), source }
}

/// The body of a successful GET, refused past `limit` bytes.
pub fn get(url: &str, limit: u64) -> Result<Vec<u8>, DownloadError> {
    let http = |message: String| DownloadError::Http { url: url.to_string(), message };
    let mut response = ureq::get(url).call().map_err(|e| http(e.to_string()))?;
    let mut body = Vec::new();
    let reader = response.body_mut().with_config().limit(limit + 1).reader();
    reader.take(limit + 1).read_to_end(&mut body).map_err(|e| http(e.to_string()))?;
    if body.len() as u64 > limit {
        return Err(DownloadError::TooLarge { url: url.to_string(), limit });
    }
    Ok(body)
}

/// Where the cache keeps models: `$INVSCALE_CACHE`, else `$XDG_CACHE_HOME/invscale`, else
/// `~/.cache/invscale`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INVSCALE_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    base.join("invscale")
}

/// The model's folder in the cache, with its three files downloaded from `hub` unless they are
/// there already. `progress(file, done, total)` follows each download (`total` when known).
pub fn model_folder(
    model: &HubRef,
    hub: &str,
    cache: &Path,
    mut progress: impl FnMut(&str, u64, Option<u64>),
) -> Result<PathBuf, DownloadError> {
    let dir = cache.join("models").join(&model.id).join(&model.revision);
    fs::create_dir_all(&dir).map_err(io(&dir))?;
    // What the Hub says the files are; a server without the listing gets no check.
    let mut listing = None;
    let mut listing = || listing.get_or_insert_with(|| get(&model.model_tree_url(hub), 16 << 20).ok()).clone();
    // A folder that already holds a tokenizer and weights says which files the model has.
    let here = |files: &[&str]| files.iter().any(|f| dir.join(f).exists() || dir.join(format!("{f}.part")).exists());
    let complete = here(&["tokenizer.json", "vocab.json"]) && here(&WEIGHTS_FILES);
    let files = if complete { model_files(Some(&present(&dir))) } else { model_files(listing().map(|t| listed_files(&t)).as_deref()) };
    let mut files: std::collections::VecDeque<String> = files.into_iter().map(str::to_string).collect();
    let mut checksums = None;
    while let Some(file) = files.pop_front() {
        let file = file.as_str();
        let path = dir.join(file);
        // A sharded checkpoint's index names the shards to fetch next.
        let then_shards = |files: &mut std::collections::VecDeque<String>| -> Result<(), DownloadError> {
            if file.ends_with(".index.json") {
                let index = fs::read(&path).map_err(io(&path))?;
                let shards = shard_files(&index).map_err(|e| DownloadError::Index { file: file.to_string(), message: e })?;
                files.extend(shards);
            }
            Ok(())
        };
        if path.exists() {
            then_shards(&mut files)?;
            continue;
        }
        let checksums = checksums.get_or_insert_with(|| listing().map(|t| lfs_sha256(&t)).unwrap_or_default());
        let url = model.model_file_url(hub, file);
        let mut check = DownloadCheck::new(checksums.get(file).map(String::as_str));
        loop {
            let part = fetch_resumable(&url, &path, |done, total| progress(file, done, total))?;
            let verdict = if check.expects() { check.judge(file, &url, &sha256_of(&part)?) } else { Verdict::Keep };
            match verdict {
                Verdict::Keep => {
                    fs::rename(&part, &path).map_err(io(&path))?;
                    then_shards(&mut files)?;
                    break;
                }
                Verdict::Again { notice } => {
                    fs::remove_file(&part).map_err(io(&part))?;
                    eprintln!("{notice}");
                }
                Verdict::Refuse(mismatch) => {
                    fs::remove_file(&part).map_err(io(&part))?;
                    return Err(mismatch.into());
                }
            }
        }
    }
    Ok(dir)
}

/// The files already in `dir`.
fn present(dir: &Path) -> Vec<String> {
    let names = fs::read_dir(dir).map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect::<Vec<_>>());
    names.unwrap_or_default().into_iter().map(|n| n.strip_suffix(".part").map(str::to_string).unwrap_or(n)).collect()
}

fn sha256_of(path: &Path) -> Result<String, DownloadError> {
    let mut file = fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io(path))?;
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Downloads `url` to `path.part`, resuming a partial one; returns the `.part` path.
fn fetch_resumable(url: &str, path: &Path, mut progress: impl FnMut(u64, Option<u64>)) -> Result<PathBuf, DownloadError> {
    let http = |message: String| DownloadError::Http { url: url.to_string(), message };
    let part = path.with_extension(format!("{}.part", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    let have = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let mut request = ureq::get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let mut response = request.call().map_err(|e| http(e.to_string()))?;
    // 206: the server continues where we stopped; 200: it sends the whole file again.
    let resumed = response.status().as_u16() == 206;
    let start = if resumed { have } else { 0 };
    let length: Option<u64> = response.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let total = length.map(|n| n + start);
    let mut out = OpenOptions::new().create(true).write(true).append(resumed).truncate(!resumed).open(&part).map_err(io(&part))?;
    let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
    let mut buffer = vec![0u8; 1 << 20];
    let mut done = start;
    loop {
        let n = reader.read(&mut buffer).map_err(|e| http(format!("the download broke off after {done} bytes: {e}")))?;
        if n == 0 {
            break;
        }
        out.write_all(&buffer[..n]).map_err(io(&part))?;
        done += n as u64;
        progress(done, total);
    }
    out.sync_all().map_err(io(&part))?;
    if let Some(total) = total.filter(|&t| t != done) {
        return Err(http(format!("got {done} of {total} bytes; run again to resume")));
    }
    Ok(part)
}
