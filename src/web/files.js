// Model files for a job, read as streams of chunks: Hub downloads (download.js: retried,
// resumed, checked against the Hub's SHA-256) are kept in the Cache API (so a second run
// downloads nothing), local files come from the user's folder pick.
// Shared by the page (cache marks in the picker) and the worker (downloads).

import { download, megabytes } from "./download.js";

export const CACHE_NAME = "invscale-models-v1";
export const DEFAULT_HUB = "https://huggingface.co";
export const MODEL_FILES = ["config.json", "tokenizer.json", "model.safetensors"];


/** `{hub}/{repo}/resolve/{revision}/{file}`, the Hub's download URL layout. */
export function hubUrl(hub, repo, revision, file) {
  return `${hub.replace(/\/+$/, "")}/${repo}/resolve/${encodeURIComponent(revision)}/${file}`;
}

async function openCache() {
  try {
    return globalThis.caches ? await caches.open(CACHE_NAME) : null;
  } catch {
    return null; // e.g. an insecure origin or private browsing: download without caching
  }
}

/** Whether every file of a Hub model is in the cache. */
export async function isCached(hub, repo, revision) {
  const cache = await openCache();
  if (!cache) return false;
  for (const file of MODEL_FILES) {
    if (!(await cache.match(hubUrl(hub, repo, revision, file)))) return false;
  }
  return true;
}

/** One file being read; `next()` gives the next Uint8Array, or null at the end. */
class ChunkReader {
  constructor(stream, size) {
    this.reader = stream.getReader();
    this.size = size;
  }
  async next() {
    const { done, value } = await this.reader.read();
    return done ? null : value;
  }
}


/**
 * What the Hub says of a model's files (`{hub}/api/models/{repo}/tree/{revision}`): size and,
 * for large (LFS) files, SHA-256, by path. Empty when the server does not say.
 */
export async function hubFileInfo(hub, repo, revision) {
  try {
    const response = await fetch(`${hub.replace(/\/+$/, "")}/api/models/${repo}/tree/${encodeURIComponent(revision)}`);
    if (!response.ok) return {};
    const info = {};
    for (const entry of await response.json()) {
      if (entry.type === "file") info[entry.path] = { size: entry.lfs?.size ?? entry.size, sha256: entry.lfs?.oid };
    }
    return info;
  } catch {
    return {};
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
 * The files of a job's models. `sources[i]` is `{hub, repo, revision}` or
 * `{files: {"config.json": File, ...}}`; `onProgress({model, file, loaded, total, cached})`
 * reports downloads, `onNotice({model, message})` what the user should know, and
 * `newHasher()` gives a SHA-256 hasher (`update(bytes)`, `hex()`) for checking downloads.
 */
export class ModelFiles {
  constructor(sources, onProgress, onNotice, newHasher) {
    this.sources = sources;
    this.onProgress = onProgress;
    this.onNotice = onNotice;
    this.newHasher = newHasher;
    this.info = new Map();
  }

  async open(model, file) {
    const source = this.sources[model];
    if (source.files) {
      const blob = source.files[file];
      if (!blob) throw new Error(`the model folder has no ${file}`);
      return new ChunkReader(blob.stream(), blob.size);
    }
    if (!this.info.has(model)) this.info.set(model, await hubFileInfo(source.hub, source.repo, source.revision));
    const expected = this.info.get(model)[file] ?? {};
    const url = hubUrl(source.hub, source.repo, source.revision, file);
    const report = (loaded, total, cached) => this.onProgress({ model, file, loaded, total, cached });
    const notice = (message) => this.onNotice({ model, message });
    const cache = await openCache();
    const hit = cache && (await cache.match(url));
    if (hit) {
      const kept = hit.headers.get("x-sha256");
      if (expected.sha256 && kept && kept !== expected.sha256) {
        // The revision moved on (or the entry is damaged): the Hub's file is another one now.
        await cache.delete(url);
        notice(`the cached ${file} is not the Hub's current one (SHA-256 ${kept.slice(0, 12)}…, the Hub says ${expected.sha256.slice(0, 12)}…): downloading it again`);
      } else {
        const size = Number(hit.headers.get("content-length")) || null;
        report(size, size, true);
        return new ChunkReader(hit.body, size);
      }
    }
    const blob = await download(url, { cache, expected, newHasher: this.newHasher, onProgress: (n, total) => report(n, total, false), onNotice: notice });
    if (cache) {
      const headers = { "content-length": String(blob.size), ...(expected.sha256 ? { "x-sha256": expected.sha256 } : {}) };
      await cache.put(url, new Response(blob, { headers })).catch(async (e) => {
        await cache.delete(url).catch(() => {});
        notice(`${await whyNotKept(file, blob.size, e)}; it is used now and downloaded again next time`);
      });
    }
    return new ChunkReader(blob.stream(), blob.size);
  }
}
