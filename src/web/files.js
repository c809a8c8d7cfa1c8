// Model files for a job, read as streams of chunks: Hub downloads go through the Cache API
// (so a second run downloads nothing), local files come from the user's folder pick.
// Shared by the page (cache marks in the picker) and the worker (downloads).

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

function counter(onBytes) {
  let loaded = 0;
  return new TransformStream({
    transform(chunk, controller) {
      loaded += chunk.byteLength;
      onBytes(loaded);
      controller.enqueue(chunk);
    },
  });
}

/**
 * The files of a job's models. `sources[i]` is `{hub, repo, revision}` or
 * `{files: {"config.json": File, ...}}`; `onProgress({model, file, loaded, total, cached})`
 * reports downloads, `onNotice({model, message})` what the user should know.
 */
export class ModelFiles {
  constructor(sources, onProgress, onNotice) {
    this.sources = sources;
    this.onProgress = onProgress;
    this.onNotice = onNotice;
  }

  async open(model, file) {
    const source = this.sources[model];
    if (source.files) {
      const blob = source.files[file];
      if (!blob) throw new Error(`the model folder has no ${file}`);
      return new ChunkReader(blob.stream(), blob.size);
    }
    const url = hubUrl(source.hub, source.repo, source.revision, file);
    const report = (loaded, total, cached) => this.onProgress({ model, file, loaded, total, cached });
    const cache = await openCache();
    const hit = cache && (await cache.match(url));
    if (hit) {
      const size = Number(hit.headers.get("content-length")) || null;
      report(size, size, true);
      return new ChunkReader(hit.body, size);
    }
    const retrying = (message) => this.onNotice({ model, message });
    const response = await download(url, retrying);
    const total = Number(response.headers.get("content-length")) || null;
    const counted = (body) => body.pipeThrough(counter((loaded) => report(loaded, total, false)));
    if (!cache) return new ChunkReader(counted(response.body), total);
    // Download into the cache first, then read from it: the worker holds one chunk at a time.
    const headers = total ? { "content-length": String(total) } : {};
    try {
      await cache.put(url, new Response(counted(response.body), { headers }));
      return new ChunkReader((await cache.match(url)).body, total);
    } catch (e) {
      // Storage full or refused (e.g. a private window): use the file without keeping it.
      await cache.delete(url).catch(() => {});
      this.onNotice({ model, message: `${file} could not be kept in the browser's cache (${e.message}); it will be downloaded again next time` });
      return new ChunkReader(counted((await download(url, retrying)).body), total);
    }
  }
}

/** Attempts per file; waits double between them, from `FIRST_WAIT_MS`. */
const ATTEMPTS = 4;
const FIRST_WAIT_MS = 1000;

/**
 * GETs `url`. A network error, a 429 (too many requests) or a 5xx is tried again after a
 * wait that doubles each time (a 429's `Retry-After` if longer, up to a minute), telling the
 * user through `onRetry(message)`; other statuses fail at once.
 */
async function download(url, onRetry) {
  for (let attempt = 1; ; attempt++) {
    let response = null;
    let problem;
    try {
      response = await fetch(url);
      if (response.ok) return response;
      problem = `HTTP ${response.status} ${response.statusText}`.trim();
    } catch (e) {
      problem = e.message;
    }
    const transient = !response || response.status === 429 || response.status >= 500;
    if (!transient || attempt === ATTEMPTS) {
      const tries = attempt > 1 ? ` (after ${attempt} attempts)` : "";
      throw new Error(`cannot download ${url}: ${problem}${tries}`);
    }
    const retryAfter = Number(response?.headers.get("retry-after")) * 1000 || 0;
    const wait = Math.min(60_000, Math.max(FIRST_WAIT_MS * 2 ** (attempt - 1), retryAfter));
    onRetry(`${url.split("/").pop()}: ${problem}; trying again in ${Math.round(wait / 1000)} s (attempt ${attempt + 1} of ${ATTEMPTS})`);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
