// @ts-check
// Runs kept in the browser (IndexedDB), so a reload, a closed tab or a crash loses nothing
// scored: every example's result is written as it completes, keyed by the run (task content
// and settings), the model (where it came from) and the example's index. The page records each
// run to offer resuming it; the worker writes results and reads them back before scoring.
// Shared by the page and the worker (same origin, same database).

const DB_NAME = "invscale-runs";
const RUNS = "runs"; // run key → {key, task, bytes, settings, models, total, started, complete}
const EXAMPLES = "examples"; // [run key, model key, index] → the example's result
/** @import { ModelSource } from "./files.js" */

let opened = null;

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = tx.onabort = () => reject(tx.error ?? new Error("the browser's storage refused the write"));
  });
}

/** The database, or null where the browser has none (then nothing is kept). */
async function db() {
  if (!globalThis.indexedDB) return null;
  opened ??= new Promise((resolve) => {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => {
      open.result.createObjectStore(RUNS, { keyPath: "key" });
      open.result.createObjectStore(EXAMPLES);
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => resolve(null); // e.g. storage disabled: run without keeping
    open.onblocked = () => resolve(null);
  });
  return opened;
}

/** @param {Uint8Array<ArrayBuffer>} bytes */
async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The run's key: the task's content and `numbers`, the settings that change a number
 * (`settings.js` `numbersOf`). The backend is not one of them: backends agree within the
 * tolerance the tests hold them to.
 * @param {Uint8Array<ArrayBuffer>} taskBytes
 * @param {unknown[]} numbers
 */
export async function runKey(taskBytes, numbers) {
  if (!globalThis.crypto?.subtle) return null; // not a secure origin: nothing is kept
  return `${await sha256(taskBytes)}:${JSON.stringify(numbers)}`;
}

/**
 * A model's key: its Hub repository, revision and — when the Hub gives it — the weights'
 * SHA-256 (a branch that moves on names other weights, whose results are not these); or a
 * local folder's name and weights file.
 * @param {ModelSource} source
 * @param {string | null} [weightsSha256]
 */
export function modelKey(source, weightsSha256 = null) {
  if (source.files) {
    const w = source.files[source.weights];
    return `local:${source.name}:${w?.size}:${w?.lastModified}`;
  }
  const sha = weightsSha256 ? `#${weightsSha256}` : "";
  return `${source.hub}/${source.repo}@${source.revision}${sha}`;
}

const range = (run, model) => IDBKeyRange.bound([run, model], [run, model, []]);

/** The kept results of each model of a run, as arrays of result objects. */
export async function keptResults(run, models) {
  const d = run && (await db());
  if (!d) return models.map(() => []);
  const tx = d.transaction(EXAMPLES, "readonly");
  return Promise.all(models.map((m) => request(tx.objectStore(EXAMPLES).getAll(range(run, m)))));
}

/** Keeps one example's result; resolves once it is written. */
export async function keepResult(run, model, result) {
  const d = run && (await db());
  if (!d) return;
  const tx = d.transaction(EXAMPLES, "readwrite");
  tx.objectStore(EXAMPLES).put(result, [run, model, result.index]);
  await done(tx);
}

/** Records a run (or updates its record, e.g. `complete`). */
export async function saveRun(record) {
  const d = record.key && (await db());
  if (!d) return;
  const tx = d.transaction(RUNS, "readwrite");
  const store = tx.objectStore(RUNS);
  const old = await request(store.get(record.key));
  store.put({ ...old, ...record });
  await done(tx);
}

/** The most recent run that did not complete, with the examples kept per model, or null. */
export async function lastUnfinishedRun() {
  const d = await db();
  if (!d) return null;
  const tx = d.transaction([RUNS, EXAMPLES], "readonly");
  const runs = (await request(tx.objectStore(RUNS).getAll())).filter((r) => !r.complete);
  if (runs.length === 0) return null;
  const run = runs.reduce((a, b) => (b.started > a.started ? b : a));
  const kept = await Promise.all(run.models.map((m) => request(tx.objectStore(EXAMPLES).count(range(run.key, m.key)))));
  return { ...run, kept };
}

/** Forgets a run and its results. */
export async function forgetRun(key) {
  const d = await db();
  if (!d) return;
  const tx = d.transaction([RUNS, EXAMPLES], "readwrite");
  tx.objectStore(RUNS).delete(key);
  tx.objectStore(EXAMPLES).delete(IDBKeyRange.bound([key], [key, []]));
  await done(tx);
}

/** Forgets every kept run. */
export async function forgetAll() {
  const d = await db();
  if (!d) return;
  const tx = d.transaction([RUNS, EXAMPLES], "readwrite");
  tx.objectStore(RUNS).clear();
  tx.objectStore(EXAMPLES).clear();
  await done(tx);
}
