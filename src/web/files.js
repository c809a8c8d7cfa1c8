// @ts-check
// Model files for a job, read as streams of chunks: Hub downloads (download.js: retried,
// resumed, checked against the Hub's SHA-256) are kept in the Cache API (so a second run
// downloads nothing), local files come from the user's folder pick.
// Shared by the page (cache marks in the picker) and the worker (downloads).

import { download } from "./download.js";
import { megabytes } from "./format.js";

export const CACHE_NAME = "invscale-models-v1";

// A Hub model's source is what the wasm module's `hub_model` gives: `{hub, repo, revision,
// name, tree}`. The Hub's rules (URL layout, listing format, which files a model has) live
// there; the files a model was loaded from are kept with it (`filesKey`), so the picker can
// tell whether all of them are cached.
/**
 * A job's model: a Hub model's source (`hub` … `tree`, as `hub_model` gives them), or a local
 * folder's (`files` by name, `weights` the file holding them).
 * @typedef {{name: string, hub?: string, repo?: string, revision?: string, spec?: string, tree?: string, files?: Object<string, File>, weights?: string}} ModelSource
 */
/** @import { DownloadCheck, FileListing, HalfPrecisionCopy, Sha256Stream } from "./invscale-web.js" */
/**
 * Tells a file's progress: bytes so far and in all (null when unknown), whether from the cache.
 * @typedef {(loaded: number | null, total: number | null, cached: boolean) => void} Report
 */

async function openCache() {
  try {
    return globalThis.caches ? await caches.open(CACHE_NAME) : null;
  } catch {
    return null; // e.g. an insecure origin or private browsing: download without caching
  }
}

/**
 * Where the cache keeps the `{file: url}` a Hub model was loaded from.
 * @param {ModelSource} source
 */
function filesKey(source) {
  return `${source.tree}?invscale-files`;
}

/**
 * How a Hub model is cached: "cached" (every file it was loaded from, as downloaded), "cached
 * as f16" (its weights only as the f16 copy, which float32 runs cannot use), or "" (not all of
 * it, or never loaded).
 * @param {ModelSource} source
 */
export async function cachedAs(source) {
  const cache = await openCache();
  const kept = cache && (await cache.match(filesKey(source)));
  if (!kept) return "";
  let asF16 = false;
  for (const [file, url] of Object.entries(await kept.json().catch(() => ({})))) {
    if (await cache.match(url)) continue;
    if (!isSafetensors(file) || !(await cache.match(halfCopyUrl(url)))) return "";
    asF16 = true;
  }
  return asF16 ? "cached as f16" : "cached";
}

/**
 * Weights files whose f16 copy can be kept (the copy is safetensors too).
 * @param {string} file
 */
function isSafetensors(file) {
  return file.endsWith(".safetensors");
}

/**
 * Where the cache keeps the f16 copy of the weights at `url` (see `HalfCopyingReader`).
 * @param {string} url
 */
function halfCopyUrl(url) {
  return `${url}?invscale-copy=f16`;
}

/** One file being read; `next()` gives the next Uint8Array, or null at the end. */
class ChunkReader {
  /**
   * `sha256`: the file's SHA-256 as checked or kept with it, if known.
   * @param {ReadableStream<Uint8Array>} stream
   * @param {number | null} size
   * @param {string | null} [sha256]
   */
  constructor(stream, size, sha256 = null) {
    this.reader = stream.getReader();
    this.size = size;
    this.sha256 = sha256;
  }
  async next() {
    const { done, value } = await this.reader.read();
    return done ? null : value;
  }
}


/**
 * Reads a file through while writing its f16 copy (`HalfPrecisionCopy`, the wasm side) into
 * Blob parts; `keep(blob)` gets the copy once the file has been read to its end, `failed()` is
 * called if the copy cannot be made (the file is still read: its loading says what is wrong).
 */
class HalfCopyingReader {
  /**
   * @param {ChunkReader} inner
   * @param {HalfPrecisionCopy | null} copy
   * @param {{keep: (copy: Blob) => Promise<void>, failed: () => Promise<unknown>}} handlers
   */
  constructor(inner, copy, { keep, failed }) {
    this.inner = inner;
    this.copy = copy;
    this.keep = keep;
    this.failed = failed;
    this.size = inner.size;
    /** @type {Blob[]} */
    this.parts = [];
    /** @type {Uint8Array<ArrayBuffer>[]} */
    this.pending = [];
    this.pendingBytes = 0;
  }
  async next() {
    const chunk = await this.inner.next();
    if (!this.copy) return chunk;
    try {
      if (chunk) {
        // A copy out of the wasm memory: a buffer of its own.
        const out = /** @type {Uint8Array<ArrayBuffer>} */ (this.copy.push(chunk));
        this.pending.push(out);
        this.pendingBytes += out.length;
        if (this.pendingBytes >= 16 << 20) this.flush();
      } else {
        const copy = this.copy;
        this.copy = null;
        copy.finish(); // consumes the wasm object
        this.flush();
        await this.keep(new Blob(this.parts));
      }
    } catch {
      this.copy?.free();
      Object.assign(this, { copy: null, parts: [], pending: [] });
      await this.failed();
    }
    return chunk;
  }
  /** A Blob per 16 MB, so the copy's bytes can leave the JS heap. */
  flush() {
    if (this.pending.length) this.parts.push(new Blob(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
  }
}

/**
 * What the Hub says of a model's files (its listing, `source.tree`): each file's size and
 * the SHA-256 of large (LFS) files, and which weights a run reads. `readListing` is the wasm
 * module's `hub_file_info`. `files` is empty (and `weights` null) when the server does not say.
 * @param {ModelSource} source
 * @param {(listing: Uint8Array) => FileListing} readListing
 * @returns {Promise<FileListing>}
 */
export async function hubFileInfo(source, readListing) {
  const none = { files: {}, weights: null };
  try {
    const response = await fetch(source.tree);
    if (!response.ok) return none;
    return readListing(new Uint8Array(await response.arrayBuffer()));
  } catch {
    return none;
  }
}

/** Why a file could not be kept, with the room it needs when storage is full. */
async function whyNotKept(file, size, error) {
  if (error?.name !== "QuotaExceededError") return `${file} could not be kept in the browser's cache (${error?.message ?? error})`;
  const { usage, quota } = (await navigator.storage?.estimate?.().catch(() => null)) ?? {};
  // The estimate can be rougher than the limit the browser enforces: quoted only when it agrees.
  const room = quota != null && quota - usage < size ? `: ${megabytes(quota - usage)} free of the ${megabytes(quota)} it allows this site` : "";
  return `the browser's storage is full: ${file} needs ${megabytes(size)}${room}. Free space (e.g. clear this site's data for older models) to keep it`;
}

/**
 * The files of a job's models. `sources[i]` is a Hub model's source (see above) or
 * `{name, files: {"config.json": File, ...}}`. The options: `readListing` reads the Hub's
 * file listing and `fileUrl(source, file)` gives a Hub file's URL (the wasm module's);
 * `onProgress({model, file, loaded, total, cached})` reports downloads, `onNotice({model,
 * message})` what the user should know; `newHasher()` gives a SHA-256 hasher (`update(bytes)`,
 * `hex()`) and `newCheck(sha256)` the policy on a mismatch (`DownloadCheck`), for checking
 * downloads. With `newHalfCopy` (runs with f16 weights: it gives a `HalfPrecisionCopy`), the
 * cache keeps the f16 copy of a Hub model's safetensors weights in place of the download:
 * half the bytes.
 */
export class ModelFiles {
  /**
   * @param {ModelSource[]} sources
   * @param {object} options
   * @param {(listing: Uint8Array) => FileListing} options.readListing
   * @param {(source: ModelSource, file: string) => string} options.fileUrl
   * @param {(progress: {model: number, file: string, loaded: number | null, total: number | null, cached: boolean}) => void} options.onProgress
   * @param {(notice: {model: number, message: string}) => void} options.onNotice
   * @param {() => Sha256Stream} options.newHasher
   * @param {(sha256: string | undefined) => DownloadCheck} options.newCheck
   * @param {(() => HalfPrecisionCopy) | null} [options.newHalfCopy]
   */
  constructor(sources, { readListing, fileUrl, onProgress, onNotice, newHasher, newCheck, newHalfCopy = null }) {
    this.sources = sources;
    this.readListing = readListing;
    this.fileUrl = fileUrl;
    this.onProgress = onProgress;
    this.onNotice = onNotice;
    this.newHasher = newHasher;
    this.newCheck = newCheck;
    this.newHalfCopy = newHalfCopy;
    /** @type {Map<number, FileListing>} what the Hub's listing says, by model */
    this.info = new Map();
  }

  /**
   * What the Hub's listing says of a Hub model's files (fetched once per job).
   * @param {number} model
   */
  async listing(model) {
    if (!this.info.has(model)) this.info.set(model, await hubFileInfo(this.sources[model], this.readListing));
    return this.info.get(model);
  }

  /**
   * The names of the model's files: the folder's, or the Hub's listing (null without one).
   * @param {number} model
   */
  async listed(model) {
    const source = this.sources[model];
    if (source.files) return Object.keys(source.files);
    const names = Object.keys((await this.listing(model)).files);
    return names.length ? names : null;
  }

  /**
   * Keeps which files a Hub model was loaded from, for the picker's cache marks.
   * @param {number} model
   * @param {string[]} files
   */
  async loaded(model, files) {
    const source = this.sources[model];
    const cache = !source.files && (await openCache());
    if (!cache) return;
    const urls = Object.fromEntries(files.map((file) => [file, this.fileUrl(source, file)]));
    await cache.put(filesKey(source), new Response(JSON.stringify(urls), { headers: { "content-type": "application/json" } })).catch(() => {});
  }

  /**
   * @param {number} model
   * @param {string} file
   */
  async open(model, file) {
    const source = this.sources[model];
    if (source.files) {
      const blob = source.files[file];
      if (!blob) throw new Error(`the model folder has no ${file}`);
      return new ChunkReader(blob.stream(), blob.size);
    }
    const expected = (await this.listing(model)).files[file] ?? {};
    const url = this.fileUrl(source, file);
    /** @type {Report} */
    const report = (loaded, total, cached) => this.onProgress({ model, file, loaded, total, cached });
    /** @param {string} message */
    const notice = (message) => this.onNotice({ model, message });
    // Workers that score shares of one run open the same files at once: one downloads and
    // keeps each file while the others wait for it, then read it from the cache.
    const release = await holdFile(url);
    try {
      return await this.openHub(url, file, expected, report, notice);
    } finally {
      release();
    }
  }

  /**
   * The Hub file at `url`: from the cache, else downloaded (and kept, or its f16 copy).
   * @param {string} url
   * @param {string} file
   * @param {{size?: number, sha256?: string | null}} expected
   * @param {Report} report
   * @param {(message: string) => void} notice
   */
  async openHub(url, file, expected, report, notice) {
    const cache = await openCache();
    const half = isSafetensors(file) && this.newHalfCopy && cache;
    if (half) {
      const copy = `the cached f16 copy of ${file} is not of the Hub's current file`;
      const kept = await cachedReader(cache, halfCopyUrl(url), { stale: copy, expected, report, notice });
      if (kept) return kept;
    }
    const stale = `the cached ${file} is not the Hub's current one`;
    let reader = await cachedReader(cache, url, { stale, expected, report, notice });
    let downloaded = null;
    if (!reader) {
      downloaded = await download(url, { cache, expected, newHasher: this.newHasher, newCheck: this.newCheck, onProgress: (n, total) => report(n, total, false), onNotice: notice });
      // Checked against the Hub's SHA-256 (when it gives one) by `download`.
      reader = new ChunkReader(downloaded.stream(), downloaded.size, expected.sha256);
      // With f16 weights only the copy is kept: the download is put only if no copy can be made.
      if (cache && !half) await keepFile(cache, url, file, downloaded, reader.sha256, notice);
    }
    if (!half) return reader;
    return new HalfCopyingReader(reader, this.newHalfCopy(), {
      keep: async (copy) => {
        try {
          await cache.put(halfCopyUrl(url), new Response(copy, { headers: keptHeaders(copy, reader.sha256) }));
          await cache.delete(url); // the f16 copy replaces the download: half the space
        } catch (e) {
          await cache.delete(halfCopyUrl(url)).catch(() => {});
          notice(`the f16 copy of ${file}: ${await whyNotKept(file, copy.size, e)}; it is made again next time`);
        }
      },
      failed: async () => downloaded && keepFile(cache, url, file, downloaded, reader.sha256, notice),
    });
  }
}

/**
 * Holds this origin's lock on `url` (Web Locks: across workers and tabs) until the returned
 * function is called; without Web Locks, holds nothing.
 */
async function holdFile(url) {
  if (!globalThis.navigator?.locks) return () => {};
  let release;
  const held = new Promise((resolve) => (release = resolve));
  await new Promise((acquired) => navigator.locks.request(`invscale-file:${url}`, () => (acquired(), held)));
  return release;
}

/**
 * Keeps a downloaded file in the cache, tagged with its SHA-256; says so when it cannot.
 * @param {Cache} cache
 * @param {string} url
 * @param {string} file
 * @param {Blob} blob
 * @param {string | null} sha256
 * @param {(message: string) => void} notice
 */
async function keepFile(cache, url, file, blob, sha256, notice) {
  await cache.put(url, new Response(blob, { headers: keptHeaders(blob, sha256) })).catch(async (e) => {
    await cache.delete(url).catch(() => {});
    notice(`${await whyNotKept(file, blob.size, e)}; it is used now and downloaded again next time`);
  });
}

/**
 * @param {Blob} blob
 * @param {string | null} sha256
 */
function keptHeaders(blob, sha256) {
  return { "content-length": String(blob.size), ...(sha256 ? { "x-sha256": sha256 } : {}) };
}

/**
 * A reader of the cache entry `key` (a file, or its f16 copy), or null when there is none or
 * it is not of the Hub's current file (a revision that moved on): then it is dropped, saying
 * `stale` and both hashes. The reader carries the SHA-256 the entry was kept with.
 * @param {Cache | null} cache
 * @param {string} key
 * @param {{stale: string, expected: {sha256?: string | null}, report: Report, notice: (message: string) => void}} options
 */
async function cachedReader(cache, key, { stale, expected, report, notice }) {
  const hit = cache && (await cache.match(key));
  if (!hit) return null;
  const kept = hit.headers.get("x-sha256");
  if (expected.sha256 && kept && kept !== expected.sha256) {
    await cache.delete(key);
    notice(`${stale} (SHA-256 ${kept.slice(0, 12)}…, the Hub says ${expected.sha256.slice(0, 12)}…): downloading it again`);
    return null;
  }
  const size = Number(hit.headers.get("content-length")) || null;
  report(size, size, true);
  return new ChunkReader(hit.body, size, kept);
}
