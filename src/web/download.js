// @ts-check
// Downloads of model files that survive a flaky network. Network errors, 429 and 5xx answers
// are tried again with back-off; a connection cut mid-file resumes with an HTTP Range request
// from the bytes already received, which are kept in the Cache API as parts (so a reload
// resumes too); a file the Hub names by its SHA-256 is checked against it, and a corrupt
// download is discarded and fetched again. The user hears of each step through `onNotice`.
import { megabytes } from "./format.js";

/** @import { DownloadCheck, Sha256Stream } from "./invscale-web.js" */

/** Attempts per file; waits double between them, from `FIRST_WAIT_MS`. */
const ATTEMPTS = 4;
const FIRST_WAIT_MS = 1000;
/** Bytes received are kept in parts of this size (a cut loses at most the part in flight). */
const PART_BYTES = 16 << 20;

/** A failure worth trying again (network, 429, 5xx, a body cut short). */
class Transient extends Error {
  /** @param {string} message */
  constructor(message, retryAfterMs = 0) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

const partKey = (url, offset) => `${url}?invscale-part=${offset}`;

/** The parts of `url` an earlier attempt kept, contiguous from byte 0, as Blobs. */
async function keptParts(cache, url) {
  if (!cache) return [];
  const prefix = `${url}?invscale-part=`;
  const offsets = (await cache.keys())
    .map((r) => r.url)
    .filter((u) => u.startsWith(prefix))
    .map((u) => Number(u.slice(prefix.length)))
    .sort((a, b) => a - b);
  const parts = [];
  let next = 0;
  for (const offset of offsets) {
    if (offset !== next) break;
    const blob = await (await cache.match(partKey(url, offset))).blob();
    parts.push(blob);
    next += blob.size;
  }
  return parts;
}

async function dropParts(cache, url) {
  if (!cache) return;
  const prefix = `${url}?invscale-part=`;
  for (const r of await cache.keys()) if (r.url.startsWith(prefix)) await cache.delete(r);
}

/**
 * SHA-256 of a Blob, streamed through the wasm hasher.
 * @param {Blob} blob
 * @param {() => Sha256Stream} newHasher
 */
async function sha256(blob, newHasher) {
  const hasher = newHasher();
  const reader = blob.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hasher.update(value);
  }
  const hex = hasher.hex();
  hasher.free?.();
  return hex;
}

/**
 * Downloads `url` into a Blob. `cache` (or null) keeps parts for resuming; `expected`
 * `{size, sha256}` (either may be absent) is what the Hub says the file is; `newHasher()` gives a
 * SHA-256 hasher and `newCheck(sha256)` the wasm module's `DownloadCheck` (the policy on a
 * mismatch); `onProgress(received, total)` and `onNotice(message)` report.
 * Statuses other than 429 and 5xx (e.g. 404) fail at once, naming the URL.
 * @param {string} url
 * @param {object} options
 * @param {Cache | null} options.cache
 * @param {{size?: number, sha256?: string | null}} [options.expected]
 * @param {() => Sha256Stream} options.newHasher
 * @param {(sha256: string | undefined) => DownloadCheck} options.newCheck
 * @param {(received: number, total: number | null) => void} options.onProgress
 * @param {(message: string) => void} options.onNotice
 * @returns {Promise<Blob>}
 */
export async function download(url, { cache, expected = {}, newHasher, newCheck, onProgress, onNotice }) {
  const check = newCheck(expected.sha256 ?? undefined);
  try {
    return await downloadChecked(url, { cache, expected, newHasher, check, onProgress, onNotice });
  } finally {
    check.free();
  }
}

async function downloadChecked(url, { cache, expected, newHasher, check, onProgress, onNotice }) {
  const name = url.split("/").pop();
  let parts = await keptParts(cache, url).catch(() => []);
  let received = parts.reduce((n, b) => n + b.size, 0);
  let total = expected.size ?? null;
  if (received) onNotice(`${name}: resuming an earlier download from ${megabytes(received)}`);
  let keepParts = Boolean(cache);
  for (let attempt = 1; ; ) {
    try {
      if (total == null || received < total) {
        const fetched = await fetchFrom(url, received);
        if (fetched.complete) {
          total = received; // the kept parts already hold the whole file
          continue;
        }
        if (fetched.restart) {
          // The server sent the whole file: what was kept is dropped, not appended to.
          parts = [];
          received = 0;
          await dropParts(cache, url).catch(() => {});
        }
        total = fetched.total ?? total;
        const flush = async (pending, start) => {
          const blob = new Blob(pending);
          parts.push(blob);
          if (!keepParts) return;
          try {
            await cache.put(partKey(url, start), new Response(blob));
          } catch {
            keepParts = false; // storage full or refused: resume within this page only
          }
        };
        let pending = [];
        let pendingBytes = 0;
        const reader = fetched.response.body.getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            pending.push(value);
            pendingBytes += value.byteLength;
            received += value.byteLength;
            onProgress(received, total);
            if (pendingBytes >= PART_BYTES) {
              await flush(pending, received - pendingBytes);
              pending = [];
              pendingBytes = 0;
            }
          }
        } catch (e) {
          throw new Transient(`the connection broke after ${megabytes(received)} of ${megabytes(total)} (${e.message})`);
        } finally {
          if (pendingBytes) await flush(pending, received - pendingBytes);
        }
      }
      if (total != null && received !== total) throw new Transient(`the download ended after ${megabytes(received)} of ${megabytes(total)}`);
      const blob = new Blob(parts);
      if (check.expects()) {
        const got = await sha256(blob, newHasher);
        let again;
        try {
          again = check.judge(name, url, got); // a notice to download it again; throws on a second mismatch
        } catch (e) {
          await dropParts(cache, url).catch(() => {});
          throw e;
        }
        if (again !== undefined) {
          parts = [];
          received = 0;
          await dropParts(cache, url).catch(() => {});
          onNotice(again);
          continue;
        }
      }
      await dropParts(cache, url).catch(() => {});
      return blob;
    } catch (e) {
      if (!(e instanceof Transient)) throw e;
      if (attempt === ATTEMPTS) throw new Error(`cannot download ${url}: ${e.message} (after ${attempt} attempts)`);
      const wait = Math.min(60_000, Math.max(FIRST_WAIT_MS * 2 ** (attempt - 1), e.retryAfterMs));
      const from = received ? `resuming from ${megabytes(received)}` : "trying again";
      attempt++;
      onNotice(`${name}: ${e.message}; ${from} in ${Math.round(wait / 1000)} s (attempt ${attempt} of ${ATTEMPTS})`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

/**
 * GETs `url` from byte `offset`: `{response, total, restart}`, `restart` when the server
 * ignored the range and sends the whole file; `{complete}` when there is nothing after `offset`.
 */
async function fetchFrom(url, offset) {
  let response;
  try {
    response = await fetch(url, offset ? { headers: { Range: `bytes=${offset}-` } } : {});
  } catch (e) {
    throw new Transient(e.message);
  }
  const length = Number(response.headers.get("content-length")) || null;
  if (response.status === 206) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
    if (!range || Number(range[1]) !== offset) throw new Transient(`the server answered a request from byte ${offset} with ${response.headers.get("content-range")}`);
    return { response, total: range[2] === "*" ? null : Number(range[2]), restart: false };
  }
  if (response.ok) return { response, total: length, restart: offset > 0 };
  if (response.status === 416 && offset > 0) return { complete: true };
  const problem = `HTTP ${response.status} ${response.statusText}`.trim();
  if (response.status === 429 || response.status >= 500) {
    throw new Transient(problem, Number(response.headers.get("retry-after")) * 1000 || 0);
  }
  throw new Error(`cannot download ${url}: ${problem}`);
}
