// A run: the worker that scores it, recovery when the GPU fails, the results kept in the
// browser (resume after a reload), one handler per worker event, and the exports.
import { hubFileInfo } from "./files.js";
import { megabytes } from "./download.js";
import { refreshCacheMarks, selectRepo, selectedModels, updateRunButton } from "./model_picker.js";
import { $, node, setState, showError, state } from "./page.js";
import { formatParams } from "./plot.js";
import { renderResults } from "./results.js";
import { forgetRun, keepResult, keptResults, lastUnfinishedRun, modelKey, runKey, saveRun } from "./run_store.js";
import { setTask } from "./task_picker.js";

export async function startRun() {
  $("error").replaceChildren();
  if (!state.task) return failRun("choose a task first");
  const models = selectedModels();
  if (models.length === 0) return failRun("tick at least one model");
  try {
    state.wasm.check_model_names(models.map((m) => m.name));
  } catch (e) {
    return failRun(`${e.message}; untick one`);
  }

  state.reports = [];
  state.partials = [];
  state.csvs = {};
  state.trend = null;
  state.shown = state.task;
  state.page = 0;
  $("results").hidden = true;
  $("resume-offer").hidden = true;
  $("results-json").textContent = "";
  $("progress").replaceChildren();
  $("precision-status").hidden = true;
  const rows = models.map((m) => {
    const row = node("div", undefined, { class: "progress-row" });
    const bar = node("progress", undefined, { max: "1", value: "0" });
    const label = node("span", "waiting");
    row.append(node("strong", m.name), bar, label);
    $("progress").append(row);
    return { element: row, bar, label, started: 0, kept: 0 };
  });

  state.run = { models, rows, backend: null, errors: 0, recoveries: 0 };
  setState("running");
  $("run").disabled = true;
  $("cancel").disabled = false;
  const request = {
    task_type: $("task-type").value || null,
    truncation: $("truncation").value,
    backend: $("backend").value,
    precision: $("precision").value,
    few_shot: fewShot(),
    seed: Number($("seed").value) || 0,
    models: models.map((m) => ({ name: m.name })),
  };
  const store = await keepRun(state.task, request, models);
  Object.assign(state.run, { store, request, bytes: state.task.bytes });
  launchWorker(state.run);
}

/** Starts the run's job in a new worker; the worker restores whatever examples were kept. */
export function launchWorker(run) {
  const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  run.worker = worker;
  // Messages of a worker that was replaced (after a GPU failure) are not this run's any more.
  worker.onmessage = (e) => worker === run.worker && onEvent(JSON.parse(e.data));
  worker.onerror = (e) => {
    if (worker !== run.worker || recover(run, `the worker stopped: ${e.message ?? "unknown error"}`)) return;
    showError(`the worker stopped: ${e.message ?? "unknown error"}`);
    run.errors++;
    finishRun();
  };
  const sources = run.models.map((m) => m.source);
  worker.postMessage({ request: JSON.stringify(run.request), task: run.bytes, sources, store: run.store });
}

/**
 * After the GPU failed (lost device, uncaught GPU error, the scorer trapping on WebGPU):
 * restarts the job, which restores every example kept so far and scores only the rest — on a
 * new WebGPU device the first time, on the CPU the second. False when it will not (not on
 * WebGPU, or already on the CPU): the failure is then the run's.
 */
export function recover(run, reason) {
  if (run.backend !== "webgpu" || run.recoveries >= 2) return false;
  run.recoveries++;
  run.worker.terminate();
  const onCpu = run.recoveries === 2;
  if (onCpu) run.request = { ...run.request, backend: "cpu" };
  const where = onCpu ? "on the CPU" : "on a new WebGPU device";
  $("progress").append(node("div", `The GPU failed (${reason}). The run goes on ${where} from the last example kept.`, { class: "note gpu-recovery" }));
  state.reports = [];
  state.partials = [];
  state.trend = null;
  run.errors = 0;
  run.backend = null;
  for (const row of run.rows) Object.assign(row, { finished: false, restored: 0 });
  launchWorker(run);
  return true;
}

/**
 * Records the run in the browser, so a reload can offer to resume it; returns the keys under
 * which the worker keeps (and finds) each model's results.
 */
export async function keepRun(task, request, models) {
  const run = await runKey(task.bytes, request);
  const weights = (m) => (m.source.files ? null : hubFileInfo(m.source, state.wasm.hub_file_info).then((f) => f["model.safetensors"]?.sha256));
  const keys = await Promise.all(models.map(async (m) => modelKey(m.source, await weights(m))));
  const record = {
    key: run,
    task: task.name,
    bytes: task.bytes,
    published: task.published ?? null,
    settings: { ...request, hub: $("hub").value, shots: $("shots").value, seed: $("seed").value },
    models: models.map((m, i) => ({ name: m.name, key: keys[i], hub: m.source.files ? null : m.source })),
    total: task.view.examples.length,
    started: Date.now(),
    complete: false,
  };
  await saveRun(record).catch((e) => showError(`this run cannot be kept in the browser (${e.message}); a reload would lose it`));
  return { run, models: keys };
}

/** Keeps a scored example in the browser; says once if the browser refuses. */
export function keepExample(run, ev) {
  const row = run.rows[ev.model];
  keepResult(run.store.run, run.store.models[ev.model], ev.result).then(() => {
    // Written: a reload from here on will not score this example again.
    row.element.dataset.kept = String(++row.kept);
  }, (e) => {
    if (run.keepFailed) return;
    run.keepFailed = true;
    const message = `results can no longer be kept in the browser (${e?.message ?? e}); the run goes on, but a reload would lose what it scores from here`;
    $("progress").append(node("div", message, { class: "note" }));
  });
}

/** Offers the last run that did not finish, if there is one. */
export async function offerResume() {
  const run = await lastUnfinishedRun().catch(() => null);
  if (!run) return;
  const kept = run.kept.reduce((a, b) => a + b, 0);
  const names = run.models.map((m) => m.name).join(", ");
  $("resume-text").textContent = `${run.task} with ${names}, started ${new Date(run.started).toLocaleString()}: ` +
    `${kept} of ${run.total * run.models.length} examples were scored and kept. Resuming scores only the others.`;
  $("resume-offer").hidden = false;
  $("resume-run").onclick = () => resumeRun(run).catch((e) => showError(e.message));
  $("discard-run").onclick = async () => {
    $("resume-offer").hidden = true;
    await forgetRun(run.key);
  };
}

/** Restores a kept run's task, models and settings, and runs it: only unscored examples are scored. */
export async function resumeRun(run) {
  $("resume-offer").hidden = true;
  const s = run.settings;
  $("task-type").value = s.task_type ?? "";
  $("truncation").value = s.truncation;
  $("backend").value = s.backend;
  $("precision").value = s.precision ?? "f32";
  $("shots").value = s.shots;
  $("seed").value = s.seed;
  $("hub").value = s.hub;
  for (const box of $("model-list").querySelectorAll("input")) box.checked = false;
  const missing = [];
  for (const m of run.models) {
    if (m.hub) selectRepo(`${m.hub.repo}@${m.hub.revision}`);
    else if (!state.locals.some((l) => l.name === m.name)) missing.push(m.name);
  }
  await setTask(run.task, run.bytes, run.published ? { published: run.published } : {});
  if (missing.length) {
    showError(`pick the local model folder(s) ${missing.join(", ")} again, then press Run: the browser does not keep access to local files`);
    return;
  }
  await startRun();
}

/** The few-shot settings, or null for zero-shot. */
export function fewShot() {
  const shots = Number($("shots").value) || 0;
  return shots > 0 ? { shots, seed: Number($("seed").value) || 0 } : null;
}

export function failRun(message) {
  showError(message);
  setState("error");
}

/** The worker's events (`protocol.rs`, and `worker.js` for download, device_lost, gpu_error, trap), one handler each. */
export const EVENT_HANDLERS = {
  backend(run, ev) {
    run.backend = ev.backend;
    $("backend-status").textContent = ev.detail;
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
    row.label.textContent = `moving weights to the device: ${megabytes(ev.loaded)} of ${megabytes(ev.total)}`;
    if (ev.total) row.bar.value = ev.loaded / ev.total;
  },
  example(run, ev) {
    keepExample(run, ev);
  },
  restored(run, ev, row) {
    row.label.textContent = `${ev.done} of ${ev.total} examples kept from an earlier run`;
    row.bar.value = ev.done / ev.total;
    row.restored = ev.done;
  },
  loaded(run, ev, row) {
    row.parameters = ev.parameters;
    row.label.textContent = `loaded, ${formatParams(ev.parameters)} parameters`;
    row.wasmMemory = ev.wasm_memory_bytes;
    row.bar.value = 0;
    row.started = performance.now();
  },
  progress(run, ev, row) {
    row.bar.value = ev.done / ev.total;
    const elapsed = (performance.now() - row.started) / 1000;
    const scored = ev.done - (row.restored ?? 0);
    const eta = (elapsed / scored) * (ev.total - ev.done);
    const kept = row.restored ? ` (${row.restored} kept from before)` : "";
    row.label.textContent = `${ev.done} of ${ev.total} examples${kept} · ${(scored / elapsed).toFixed(1)}/s · ${Math.ceil(eta)} s left`;
  },
  model_done(run, ev, row) {
    row.label.textContent = row.restored ? `done (${row.restored} examples kept from before)` : "done";
    row.finished = true;
    row.bar.value = 1;
    state.reports.push({ ...ev.report, timing: { ...ev.timing, wasm_memory_bytes: row.wasmMemory } });
    state.csvs[ev.report.name] = ev.csv;
    renderResults();
  },
  trend(run, ev) {
    state.trend = ev.trend;
    renderResults();
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
    if (!recover(run, ev.message)) EVENT_HANDLERS.error(run, ev, row);
  },
  error(run, ev, row) {
    run.errors++;
    if (row) {
      row.label.textContent = "failed";
      row.finished = true;
    }
    showError(ev.message);
  },
  finished() {
    finishRun();
  },
};

export function onEvent(ev) {
  const run = state.run;
  if (!run) return;
  const row = ev.model != null ? run.rows[ev.model] : null;
  EVENT_HANDLERS[ev.event]?.(run, ev, row);
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

export function cancelRun() {
  const run = state.run;
  if (!run) return;
  run.rows.forEach((r) => {
    if (!r.finished) r.label.textContent = "cancelled";
  });
  finishRun("cancelled");
}

export async function finishRun(outcome) {
  const run = state.run;
  if (!run || run.finishing) return;
  run.finishing = true;
  run.worker?.terminate();
  $("cancel").disabled = true;
  // (The run stays the page's until its partial results are read, so Run waits for them.)
  state.partials = await partialReports(run).catch((e) => (showError(`the partial results cannot be exported: ${e.message ?? e}`), []));
  state.run = null;
  updateRunButton();
  if (state.partials.length) renderResults();
  publishBundle(run, outcome === "cancelled");
  const complete = outcome !== "cancelled" && run.errors === 0 && state.reports.length === run.models.length;
  // A complete run is not offered for resuming; its results stay kept for a repeat.
  if (complete && run.store?.run) saveRun({ key: run.store.run, complete: true }).catch(() => {});
  refreshCacheMarks();
  setState(outcome === "cancelled" ? "cancelled" : run.errors > 0 ? "error" : "done");
}

/** Reports of the models the run did not finish, from the examples they kept, marked partial. */
export async function partialReports(run) {
  const done = new Set(state.reports.map((r) => r.name));
  const reports = [];
  for (const [i, m] of run.models.entries()) {
    if (done.has(m.name) || !run.store?.run) continue;
    const [kept] = await keptResults(run.store.run, [run.store.models[i]]);
    const parameters = run.rows[i].parameters ?? state.registry.find((r) => r.repo === m.source.repo)?.parameters;
    if (kept.length === 0 || parameters == null) continue;
    const { report, csv } = JSON.parse(state.wasm.partial_report(JSON.stringify(run.request), run.bytes, m.name, parameters, JSON.stringify(kept)));
    reports.push({ ...report, csv });
  }
  return reports;
}

export function bundle(run, cancelled) {
  const view = state.shown.view;
  return {
    task: state.shown.name,
    task_type: view.task_type,
    examples: view.examples.length,
    truncation: $("truncation").value,
    few_shot: fewShot(),
    backend: run.backend,
    precision: run.request.precision,
    complete: !cancelled && run.errors === 0 && state.reports.length === run.models.length,
    models: state.reports,
    // Models cut short: the examples they scored, summarised; not in the plot or the trend.
    partial_models: state.partials.map(({ csv, ...report }) => report),
    trend: state.trend,
  };
}

export function publishBundle(run, cancelled) {
  const json = JSON.stringify(bundle(run, cancelled), null, 1);
  $("results-json").textContent = json;
  const exports = $("exports");
  exports.replaceChildren(node("span", "Export: "));
  exports.append(downloadLink("results.json", json, "application/json"));
  for (const [name, csv] of Object.entries(state.csvs)) exports.append(" ", downloadLink(`${name}.csv`, csv, "text/csv"));
  for (const p of state.partials) exports.append(" ", downloadLink(`${p.name}.partial.csv`, p.csv, "text/csv"));
}

export function downloadLink(filename, text, type) {
  const a = node("a", filename, { download: filename });
  a.href = URL.createObjectURL(new Blob([text], { type }));
  return a;
}
