// A run: the workers that score it (one on WebGPU; on the CPU several, each scoring a share of
// every model's examples), recovery when the GPU fails, the results kept in the browser
// (resume after a reload), one handler per worker event, the reports put together from what
// the workers scored, and the exports.
import { comparisonBundle, comparisonKept, comparisonStep, runEnded, startComparison } from "./comparison.js";
import { hubFileInfo } from "./files.js";
import { megabytes } from "./download.js";
import { refreshCacheMarks, selectRepo, selectedModels, updateRunButton } from "./model_picker.js";
import { $, node, setState, showError, state } from "./page.js";
import { formatParams } from "./plot.js";
import { renderResults } from "./results.js";
import { forgetRun, keepResult, keptResults, lastUnfinishedRun, modelKey, runKey, saveRun } from "./run_store.js";
import { fewShot, setTask } from "./task_picker.js";

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
  state.trends = null;
  state.examples = null;
  state.focusModel = null;
  state.shown = state.task;
  state.page = 0;
  $("results").hidden = true;
  $("resume-offer").hidden = true;
  $("results-json").textContent = "";
  $("progress").replaceChildren();
  const step = comparisonStep();
  if (step) $("progress").append(step);
  $("precision-status").hidden = true;
  const rows = models.map((m) => {
    const row = node("div", undefined, { class: "progress-row" });
    const bar = node("progress", undefined, { max: "1", value: "0" });
    const label = node("span", "waiting");
    row.append(node("strong", m.name), bar, label);
    $("progress").append(row);
    return { element: row, bar, label, started: 0, kept: 0 };
  });

  state.run = { models, rows, backend: null, errors: 0, recoveries: 0, total: state.task.view.examples.length };
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
  const kept = await keptResults(store.run, store.models).catch(() => models.map(() => []));
  // Each model's results by example index: kept ones, then each `example` event's.
  state.run.results = kept.map((results) => new Map(results.map((r) => [r.index, r])));
  await launchWorkers(state.run);
}

/**
 * Starts the run's job in new workers, each scoring a share of every model's examples; they
 * all start from the examples scored so far (kept from before, or by workers replaced).
 */
export async function launchWorkers(run) {
  const count = await workerCount(run);
  if (state.run !== run || run.finishing) return; // cancelled meanwhile
  const earlier = run.results.map((results) => [...results.values()]);
  Object.assign(run, {
    workers: [],
    finishedWorkers: 0,
    // Per model: the examples that came from before (dropped if the workers discard them),
    // what each worker said when its share was scored, and whether the reports have it.
    fromBefore: earlier.map((results) => new Set(results.map((r) => r.index))),
    shares: run.models.map(() => []),
    assembled: run.models.map(() => false),
  });
  const sources = run.models.map((m) => m.source);
  for (let index = 0; index < count; index++) {
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    run.workers.push(worker);
    // Messages of a worker that was replaced (after a GPU failure) are not this run's any more.
    worker.onmessage = (e) => run.workers.includes(worker) && onEvent(JSON.parse(e.data));
    worker.onerror = (e) => {
      if (!run.workers.includes(worker) || recover(run, `the worker stopped: ${e.message ?? "unknown error"}`)) return;
      showError(`the worker stopped: ${e.message ?? "unknown error"}`);
      run.errors++;
      finishRun();
    };
    worker.postMessage({ request: JSON.stringify(run.request), share: { index, count }, task: run.bytes, sources, earlier });
  }
}

/**
 * How many workers score a run: one on WebGPU (the GPU is shared anyway) and with f16 weights
 * (whose cached copy one reader makes); on the CPU, one per core, as far as memory allows
 * each its own copy of the largest model, or as the Workers setting says.
 */
export async function workerCount(run) {
  if (run.request.precision === "f16" || !(await scoresOnCpu(run.request.backend))) return 1;
  const chosen = $("workers").value;
  if (chosen !== "auto") return Number(chosen);
  const largest = Math.max(...run.models.map((m) => m.bytes ?? Infinity));
  // A worker holds the weights, the tokenizer and the activations of a pass; the page may
  // take half of the memory the browser reports (Chromium says at most 8 GB).
  const perWorker = largest * 1.25 + 200e6;
  const memory = ((navigator.deviceMemory ?? 4) * 2 ** 30) / 2;
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8, Math.floor(memory / perWorker)));
}

/** Whether a run with this backend setting scores on the CPU: chosen, or no WebGPU adapter. */
async function scoresOnCpu(backend) {
  if (backend === "cpu") return true;
  try {
    return !(await navigator.gpu?.requestAdapter());
  } catch {
    return true;
  }
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
  run.workers.forEach((w) => w.terminate());
  run.workers = [];
  const onCpu = run.recoveries === 2;
  if (onCpu) run.request = { ...run.request, backend: "cpu" };
  const where = onCpu ? "on the CPU" : "on a new WebGPU device";
  $("progress").append(node("div", `The GPU failed (${reason}). The run goes on ${where} from the last example kept.`, { class: "note gpu-recovery" }));
  state.reports = [];
  state.partials = [];
  state.trend = null;
  state.trends = null;
  state.examples = null;
  state.focusModel = null;
  run.errors = 0;
  run.backend = null;
  for (const row of run.rows) Object.assign(row, { finished: false, restored: 0, started: 0 });
  launchWorkers(run).catch((e) => (showError(e.message ?? String(e)), finishRun()));
  return true;
}

/**
 * Records the run in the browser, so a reload can offer to resume it; returns the keys under
 * which the worker keeps (and finds) each model's results. Fills in the size of models whose
 * size only the Hub's listing gives.
 */
export async function keepRun(task, request, models) {
  const run = await runKey(task.bytes, request);
  const weights = await Promise.all(models.map((m) => (m.source.files ? null : hubFileInfo(m.source, state.wasm.hub_file_info).then((f) => f.weights))));
  // The Hub's listing also tells the size of a model the registry does not know (for the workers' memory).
  models.forEach((m, i) => (m.bytes ??= weights[i]?.bytes ?? null));
  const keys = await Promise.all(models.map((m, i) => modelKey(m.source, weights[i]?.sha256)));
  const record = {
    key: run,
    task: task.name,
    bytes: task.bytes,
    published: task.published ?? null,
    link: task.link ?? null,
    settings: { ...request, hub: $("hub").value, shots: $("shots").value, seed: $("seed").value, compare: comparisonKept() },
    models: models.map((m, i) => ({ name: m.name, key: keys[i], hub: m.source.files ? null : m.source })),
    total: task.view.examples.length,
    started: Date.now(),
    complete: false,
  };
  await saveRun(record).catch((e) => showError(`this run cannot be kept in the browser (${e.message}); a reload would lose it`));
  return { run, models: keys };
}

/** Keeps a scored example in the run and in the browser; says once if the browser refuses. */
export function keepExample(run, ev) {
  const row = run.rows[ev.model];
  run.results[ev.model].set(ev.result.index, ev.result);
  run.fromBefore[ev.model].delete(ev.result.index);
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
  const compare = run.settings.compare;
  const step = compare ? ` (comparing settings: run ${compare.index + 1} of ${compare.runs})` : "";
  $("resume-text").textContent = `${run.task} with ${names}${step}, started ${new Date(run.started).toLocaleString()}: ` +
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
  state.comparison = null;
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
  await setTask(run.task, run.bytes, { ...(run.published ? { published: run.published } : {}), ...(run.link ? { link: run.link } : {}) });
  // A comparison starts over with the settings the user had: the settings already run find
  // all their examples kept, so only the interrupted one scores anything.
  if (s.compare) {
    for (const [id, value] of Object.entries(s.compare.original)) $(id).value = value;
    $("compare").value = s.compare.kind;
  }
  if (missing.length) {
    showError(`pick the local model folder(s) ${missing.join(", ")} again, then press Run: the browser does not keep access to local files`);
    return;
  }
  await (s.compare ? startComparison(startRun, setTask) : startRun());
}

export function failRun(message) {
  showError(message);
  setState("error");
}

/** The worker's events (`protocol.rs`, and `worker.js` for download, device_lost, gpu_error, trap), one handler each. */
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
      EVENT_HANDLERS.error(run, { message: e.message ?? String(e) }, row);
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
    if (!recover(run, ev.message)) EVENT_HANDLERS.error(run, ev, row);
  },
  error(run, ev, row) {
    run.errors++;
    if (row) {
      row.label.textContent = "failed";
      row.finished = true;
    }
    // Workers that fail alike (a model the Hub does not have) say it once.
    run.errorsShown ??= new Set();
    if (!run.errorsShown.has(ev.message)) showError(ev.message);
    run.errorsShown.add(ev.message);
  },
  finished(run) {
    if (++run.finishedWorkers >= run.workers.length) finishRun();
  },
};

/** A model's row: examples scored (kept ones included) of the task, the rate, the time left. */
function showProgress(run, model, row) {
  const done = run.results[model].size;
  row.bar.value = done / run.total;
  const elapsed = (performance.now() - row.started) / 1000;
  const scored = done - (row.restored ?? 0);
  const eta = (elapsed / scored) * (run.total - done);
  const kept = row.restored ? ` (${row.restored} kept from before)` : "";
  row.label.textContent = `${done} of ${run.total} examples${kept} · ${(scored / elapsed).toFixed(1)}/s · ${Math.ceil(eta)} s left`;
}

/** One model's timing from its workers': they ran side by side, so the longest of each. */
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

/** The reports (and CSVs) of the models every worker has scored, and their trend, from the results. */
function putReportsTogether(run) {
  const done = run.models.map((_, i) => i).filter((i) => run.assembled[i]);
  const scored = done.map((i) => ({ ...scoredModel(run, i), results: [...run.results[i].values()] }));
  const { models, examples, ...trends } = JSON.parse(state.wasm.evaluation_report(JSON.stringify(run.request), run.bytes, JSON.stringify(scored)));
  state.reports = models.map(({ report }, j) => ({ ...report, family: run.rows[done[j]].family ?? null, timing: run.rows[done[j]].timing }));
  state.csvs = Object.fromEntries(models.map(({ report, csv }) => [report.name, csv]));
  state.trend = trends.trend;
  state.trends = trends;
  state.examples = examples;
  renderResults();
}

/** Model `i` of the run as the report wants it: name, size and where it came from. */
function scoredModel(run, i) {
  const m = run.models[i];
  const hub = m.source.files ? {} : { repo: m.source.repo, revision: m.source.revision === "main" ? null : m.source.revision };
  return { name: m.name, parameters: run.rows[i].parameters, source: { family: run.rows[i].family ?? null, ...hub } };
}

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
  run.workers?.forEach((w) => w.terminate());
  $("cancel").disabled = true;
  // (The run stays the page's until its partial results are read, so Run waits for them.)
  state.partials = await partialReports(run).catch((e) => (showError(`the partial results cannot be exported: ${e.message ?? e}`), []));
  state.run = null;
  updateRunButton();
  if (state.partials.length) renderResults();
  const complete = outcome !== "cancelled" && run.errors === 0 && state.reports.length === run.models.length;
  // A comparison of settings goes on with its next setting; its last run shows them all.
  const another = await runEnded(outcome, complete, startRun, setTask);
  if (state.comparison?.finished && complete) renderResults();
  publishBundle(run, outcome === "cancelled");
  // A complete run is not offered for resuming; its results stay kept for a repeat.
  if (complete && run.store?.run) saveRun({ key: run.store.run, complete: true }).catch(() => {});
  refreshCacheMarks();
  if (!another) setState(outcome === "cancelled" ? "cancelled" : run.errors > 0 ? "error" : "done");
}

/** Reports of the models the run did not finish, from the examples they scored, marked partial. */
export async function partialReports(run) {
  const reports = [];
  for (const [i, m] of run.models.entries()) {
    if (!run.results || run.assembled?.[i]) continue;
    const results = [...run.results[i].values()];
    const parameters = run.rows[i].parameters ?? state.registry.find((r) => r.repo === m.source.repo)?.parameters;
    if (results.length === 0 || parameters == null) continue;
    const request = JSON.stringify(run.request);
    const model = { ...scoredModel(run, i), parameters, results };
    const [{ report, csv }] = JSON.parse(state.wasm.evaluation_report(request, run.bytes, JSON.stringify([model]))).models;
    reports.push({ ...report, family: run.rows[i].family ?? null, csv });
  }
  return reports;
}

export function bundle(run, cancelled) {
  const view = state.shown.view;
  return {
    task: state.shown.name,
    task_type: view.task_type,
    examples: view.examples.length,
    // The run's own settings, as it started: a comparison puts the controls back after its last run.
    truncation: run.request.truncation,
    few_shot: run.request.few_shot,
    backend: run.backend,
    workers: run.workers?.length ?? 1,
    precision: run.request.precision,
    complete: !cancelled && run.errors === 0 && state.reports.length === run.models.length,
    models: state.reports,
    // Models cut short: the examples they scored, summarised; not in the plot or the trend.
    partial_models: state.partials.map(({ csv, ...report }) => report),
    trend: state.trend,
    // With settings compared: each setting's models and trend (the fields above are the last one's).
    comparison: comparisonBundle(),
    family_trends: state.trends?.family_trends ?? [],
    training_trends: state.trends?.training_trends ?? [],
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
  const link = runLink(run);
  const share = link ? node("a", "link to this run", { id: "run-link", href: link }) : node("span", "(a task or model from your files cannot be linked)", { class: "note" });
  exports.append(" · ", share);
}

/**
 * A URL that runs this run again (the same task, models and settings), for sharing; null when
 * the task or a model came from the user's files.
 */
export function runLink(run) {
  const task = state.shown?.link;
  if (!task || run.models.some((m) => m.source.files)) return null;
  const params = new URLSearchParams(task);
  params.set("models", run.models.map((m) => (m.source.revision === "main" ? m.source.repo : `${m.source.repo}@${m.source.revision}`)).join(","));
  if ($("hub").value !== state.wasm.default_hub()) params.set("hub", $("hub").value);
  for (const [param, id] of [["type", "task-type"], ["truncation", "truncation"], ["precision", "precision"], ["backend", "backend"], ["shots", "shots"], ["seed", "seed"], ["compare", "compare"]]) {
    if ($(id).value) params.set(param, $(id).value);
  }
  params.set("run", "1");
  return `${location.origin}${location.pathname}?${params}`;
}

export function downloadLink(filename, text, type) {
  const a = node("a", filename, { download: filename });
  a.href = URL.createObjectURL(new Blob([text], { type }));
  return a;
}
