//! Where a model's files come from: a folder (the CLI's, or its Hub cache), or the page's
//! files (downloads through the browser's cache, or files the user picked). A source lists
//! its file names and opens a file as a stream of chunks; [`super::load`] does the rest.

/// A file being read, chunk by chunk.
// Not `Send`: the page's files are JS objects on one thread, and the CLI blocks on the load.
#[allow(async_fn_in_trait)]
pub trait FileChunks {
    /// The next chunk, or `None` at the end of the file.
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String>;
    /// The file's size in bytes, when known.
    fn size(&self) -> Option<u64>;
}

/// A model's files.
#[allow(async_fn_in_trait)]
pub trait ModelSource {
    type File: FileChunks;
    /// The names of the files it holds, or `None` when it cannot list them (a server without
    /// the Hub's listing).
    async fn file_names(&self) -> Result<Option<Vec<String>>, String>;
    /// Opens file `name`.
    async fn open(&self, name: &str) -> Result<Self::File, String>;
}

/// The most a model's JSON or text file (config, tokenizer, index) may hold: several times
/// the largest real one (Gemma's `tokenizer.json`, 34 MB; Qwen's, 11 MB).
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// Reads a whole (small) file: a config, a tokenizer, an index; refused once it passes
/// [`MAX_TEXT_BYTES`], whatever size it claims (a device or a sparse file).
pub async fn read_all(file: &mut impl FileChunks) -> Result<Vec<u8>, String> {
    let too_large = || format!("holds more than {} MiB; no model's JSON or text file comes near", MAX_TEXT_BYTES >> 20);
    if file.size().is_some_and(|size| size > MAX_TEXT_BYTES) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = file.next_chunk().await? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > MAX_TEXT_BYTES {
            return Err(too_large());
        }
    }
    Ok(bytes)
}

#[cfg(not(target_family = "wasm"))]
pub use folder::{Folder, FolderFile};

#[cfg(not(target_family = "wasm"))]
mod folder {
    use std::io::Read;
    use std::path::{Path, PathBuf};

    use super::{FileChunks, ModelSource};

    /// A model folder on disk.
    pub struct Folder(pub PathBuf);

    /// What a path that is not a regular file is.
    fn file_kind(kind: std::fs::FileType) -> &'static str {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            if kind.is_fifo() {
                return "named pipe";
            }
            if kind.is_char_device() || kind.is_block_device() {
                return "device";
            }
            if kind.is_socket() {
                return "socket";
            }
        }
        if kind.is_dir() {
            "directory"
        } else {
            "special file"
        }
    }

    impl Folder {
        pub fn new(dir: impl AsRef<Path>) -> Self {
            Folder(dir.as_ref().to_path_buf())
        }
    }

    /// A file of a [`Folder`], read a megabyte at a time.
    pub struct FolderFile {
        file: std::fs::File,
        size: Option<u64>,
    }

    impl FileChunks for FolderFile {
        async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
            let mut chunk = vec![0u8; 1 << 20];
            let n = self.file.read(&mut chunk).map_err(|e| e.to_string())?;
            chunk.truncate(n);
            Ok((n > 0).then_some(chunk))
        }

        fn size(&self) -> Option<u64> {
            self.size
        }
    }

    impl ModelSource for Folder {
        type File = FolderFile;

        async fn file_names(&self) -> Result<Option<Vec<String>>, String> {
            let cannot = |e: std::io::Error| format!("cannot list its files: {e}");
            let mut names = Vec::new();
            for entry in std::fs::read_dir(&self.0).map_err(cannot)? {
                let entry = entry.map_err(cannot)?;
                names.extend(entry.file_name().to_str().map(str::to_string));
            }
            names.sort();
            Ok(Some(names))
        }

        /// Opens a regular file only, looked at before it is opened: opening a FIFO would
        /// block, and a device or a directory has no end. A symlink loop is the system's error.
        async fn open(&self, name: &str) -> Result<FolderFile, String> {
            let path = self.0.join(name);
            let kind = std::fs::metadata(&path).map_err(|e| e.to_string())?.file_type();
            if !kind.is_file() {
                return Err(format!("not a regular file (a {})", file_kind(kind)));
            }
            let file = std::fs::File::open(&path).map_err(|e| e.to_string())?;
            let size = file.metadata().ok().map(|m| m.len());
            Ok(FolderFile { file, size })
        }
    }
}
