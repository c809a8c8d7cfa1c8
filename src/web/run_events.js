// @ts-check
// What the workers say during a run (`protocol.rs`, and `worker.js` for download,
// device_lost, gpu_error, trap): one handler per event, each model's progress row, and the
// results kept as they come.
import { formatParams, megabytes } from "./format.js";
import { $, node, showError, state } from "./page.js";
import { putReportsTogether } from "./run_reports.js";
import { keepResult } from "./run_store.js";
import { recover } from "./worker_pool.js";
/** @import { ProgressRow, Run } from "./page.js" */
/** @import { Event, Timing } from "./invscale-web.js" */
/** @import { ScorerEvent } from "./worker.js" */
/**
 * An event a worker posted: the job's (`protocol.rs`) or the worker's own.
 * @typedef {Event | ScorerEvent} WorkerEvent
 */

/** @param {WorkerEvent} ev */
export function onEvent(ev) {
  const run = state.run;
  if (!run) return;
  const row = "model" in ev && ev.model != null ? run.rows[ev.model] : null;
  // Each handler takes its own event: TypeScript cannot follow `ev.event` to the handler's type.
  const handler = /** @type {((run: Run, ev: WorkerEvent, row: ProgressRow | null) => void) | undefined} */ (EVENT_HANDLERS[ev.event]);
  handler?.(run, ev, row);
}

/**
 * The worker's events (`protocol.rs`, and `worker.js` for download, device_lost, gpu_error, trap), one handler each.
 * @type {{[E in WorkerEvent["event"]]?: (run: Run, ev: Extract<WorkerEvent, {event: E}>, row: ProgressRow | null) => void}}
 */
export const EVENT_HANDLERS = {
  backend(run, ev) {
    run.backend = ev.backend;
    const shares = run.workers.length > 1 ? ` · ${run.workers.length} workers, each scoring a share of the examples` : "";
    $("backend-status").textContent = ev.detail + shares;
    $("backend-status").dataset.backend = ev.backend;
    if (ev.backend === "webgpu") describeAdapter().then((a) => a && ($("backend-status").textContent += ` (adapter: ${a})`));
  },
  precision(run, ev) {
    $("precision-status").textContent = ev.detail;
    $("precision-status").hidden = false;
  },
  model_start(run, ev, row) {
    row.label.textContent = "starting";
  },
  download(run, ev, row) {
    if (ev.cached) row.label.textContent = `${ev.file}: from the cache`;
    else {
      row.label.textContent = `downloading ${ev.file}: ${megabytes(ev.loaded)} of ${megabytes(ev.total)}`;
      if (ev.total) row.bar.value = ev.loaded / ev.total;
    }
  },
  loading(run, ev, row) {
    row.label.textContent = `moving weights to the device (${ev.file}): ${megabytes(ev.loaded)} of ${megabytes(ev.total)}`;
    if (ev.total) row.bar.value = ev.loaded / ev.total;
  },
  example(run, ev, row) {
    keepExample(run, ev);
    showProgress(run, ev.model, row);
  },
  discarded(run, ev, row) {
    // Every worker scores its share of the whole task again: the kept results go.
    for (const index of run.fromBefore[ev.model]) run.results[ev.model].delete(index);
    run.fromBefore[ev.model].clear();
    row.restored = 0;
  },
  restored(run, ev, row) {
    row.label.textContent = `${ev.done} of ${ev.total} examples kept from an earlier run`;
    row.bar.value = ev.done / ev.total;
    row.restored = ev.done;
  },
  loaded(run, ev, row) {
    row.parameters = ev.parameters;
    row.family = ev.family;
    row.wasmMemory = Math.max(row.wasmMemory ?? 0, ev.wasm_memory_bytes);
    // The first worker to load starts the clock; the others are scoring their shares too.
    if (row.started) return;
    row.label.textContent = `loaded, ${formatParams(ev.parameters)} parameters`;
    row.bar.value = 0;
    row.started = performance.now();
  },
  model_scored(run, ev, row) {
    row.parameters = ev.parameters;
    row.family = ev.family;
    const shares = run.shares[ev.model];
    shares.push(ev.timing);
    if (shares.length < run.workers.length) return;
    row.label.textContent = row.restored ? `done (${row.restored} examples kept from before)` : "done";
    row.finished = true;
    row.bar.value = 1;
    row.timing = combinedTiming(shares, row);
    run.assembled[ev.model] = true;
    try {
      putReportsTogether(run);
    } catch (e) {
      run.assembled[ev.model] = false;
      failed(run, e.message ?? String(e), row);
      putReportsTogether(run);
    }
  },
  notice(run, ev) {
    // A notice about the whole job (e.g. kept results it could not read) names no model.
    const who = ev.model != null ? `${run.models[ev.model].name}: ` : "";
    $("progress").append(node("div", `${who}${ev.message}`, { class: "note" }));
  },
  device_lost(run, ev) {
    recover(run, `the WebGPU device was lost: ${ev.message}`);
  },
  gpu_error(run, ev) {
    recover(run, ev.message);
  },
  // The scorer stopped (a trap, or the module failed to load); on WebGPU most likely the GPU's doing.
  trap(run, ev, row) {
    if (!recover(run, ev.message)) failed(run, ev.message, row);
  },
  error(run, ev, row) {
    failed(run, ev.message, row);
  },
  finished(run) {
    if (++run.finishedWorkers >= run.workers.length) run.hooks.finish();
  },
};

/**
 * A model (`row`), or the whole job, failed with `message`.
 * @param {Run} run
 * @param {string} message
 * @param {ProgressRow | null} row
 */
function failed(run, message, row) {
  run.errors++;
  if (row) {
    row.label.textContent = "failed";
    row.finished = true;
  }
  // Workers that fail alike (a model the Hub does not have) say it once.
  run.errorsShown ??= new Set();
  if (!run.errorsShown.has(message)) showError(message);
  run.errorsShown.add(message);
}

/**
 * Keeps a scored example in the run and in the browser; says once if the browser refuses.
 * @param {Run} run
 * @param {Extract<WorkerEvent, {event: "example"}>} ev
 */
export function keepExample(run, ev) {
  const row = run.rows[ev.model];
  run.results[ev.model].set(ev.result.index, ev.result);
  run.fromBefore[ev.model].delete(ev.result.index);
  const written = keepResult(run.store.run, run.store.models[ev.model], ev.result).then(() => {
    // Written: a reload from here on will not score this example again.
    row.element.dataset.kept = String(++row.kept);
  }, (e) => {
    if (run.keepFailed) return;
    run.keepFailed = true;
    const message = `results can no longer be kept in the browser (${e?.message ?? e}); the run goes on, but a reload would lose what it scores from here`;
    $("progress").append(node("div", message, { class: "note" }));
  });
  // The run ends once every result is written: a tab closed then loses nothing.
  run.writes = Promise.all([run.writes, written]).then(() => {});
}

/**
 * A model's row: examples scored (kept ones included) of the task, the rate, the time left.
 * @param {Run} run
 * @param {number} model
 * @param {ProgressRow} row
 */
function showProgress(run, model, row) {
  const done = run.results[model].size;
  row.bar.value = done / run.total;
  const elapsed = (performance.now() - row.started) / 1000;
  const scored = done - (row.restored ?? 0);
  const eta = (elapsed / scored) * (run.total - done);
  const kept = row.restored ? ` (${row.restored} kept from before)` : "";
  row.label.textContent = `${done} of ${run.total} examples${kept} · ${(scored / elapsed).toFixed(1)}/s · ${Math.ceil(eta)} s left`;
}

/**
 * One model's timing from its workers': they ran side by side, so the longest of each.
 * @param {Timing[]} timings the workers' `model_scored` timings
 * @param {ProgressRow} row
 */
function combinedTiming(timings, row) {
  const longest = (key) => Math.max(...timings.map((t) => t[key] ?? 0));
  const before = timings.some((t) => t.wasm_memory_before_load_bytes != null) ? { wasm_memory_before_load_bytes: longest("wasm_memory_before_load_bytes") } : {};
  return {
    load_seconds: longest("load_seconds"),
    score_seconds: longest("score_seconds"),
    ...before,
    restored_examples: timings[0].restored_examples,
    wasm_memory_bytes: row.wasmMemory,
    workers: timings.length,
  };
}

/** What the browser tells about its WebGPU adapter (vendor, architecture), for the status line. */
export async function describeAdapter() {
  try {
    const info = (await navigator.gpu?.requestAdapter())?.info;
    return info ? [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") : "";
  } catch {
    return "";
  }
}
