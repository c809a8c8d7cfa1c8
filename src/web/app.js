// The page: task and model pickers, the run (in a Web Worker), progress, and the results
// (plot, tables, exports). Everything a task or a user supplies is inserted as text
// (textContent, createElement), never as HTML. Parsing and all numbers come from the wasm
// module and the worker; this file only shows them.
import { drawPlot, formatParams } from "./plot.js";
import { DEFAULT_HUB, hubFileInfo, cachedAs } from "./files.js";
import { megabytes } from "./download.js";
import { forgetAll, forgetRun, keepResult, keptResults, lastUnfinishedRun, modelKey, runKey, saveRun } from "./run_store.js";

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 20;
const state = {
  wasm: null,
  task: null, // {name, bytes, view}: the task in the picker
  shown: null, // the task of the run whose results are shown
  registry: [], // {name, repo, revision, parameters, bytes, extra}
  locals: [], // {name, files}
  builtins: [],
  run: null,
  reports: [],
  csvs: {},
  page: 0,
};

function setState(s) {
  document.body.dataset.state = s;
}

function showError(message) {
  const line = document.createElement("div");
  line.textContent = message;
  $("error").append(line);
}

function node(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** An http(s) URL from a user or URL parameter; anything else (javascript:, data:) is refused. */
function httpUrl(value) {
  const url = new URL(value, location.href);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`only http and https URLs are allowed, not ${url.protocol}`);
  return url.href;
}

function wasmBindings() {
  if (window.wasmBindings) return Promise.resolve(window.wasmBindings);
  return new Promise((resolve) => addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true }));
}

// ---- task ----

/** A task that could not be loaded: said where the task's status goes. */
function taskError(e) {
  state.task = null;
  $("task-status").className = "error";
  $("task-status").textContent = e.message ?? String(e);
  updateRunButton();
}

/**
 * After a trap (a Rust panic: a reader asserting on damaged data) the wasm instance is in an
 * unknown state, so a fresh one replaces it: the same module imported anew is a new instance.
 */
let wasmInstances = 0;
function replaceWasm() {
  state.wasmReplacing ??= (async () => {
    const glue = await import(`./invscale-web.js?instance=${++wasmInstances}`);
    await glue.default();
    state.wasm = glue;
    document.body.dataset.wasmInstance = String(wasmInstances); // which instance reads tasks now
  })()
    .catch((e) => showError(`the page's reader could not be restarted (${e.message ?? e}); reload the page`))
    .finally(() => (state.wasmReplacing = null));
  return state.wasmReplacing;
}

/** `extra` travels with the task (e.g. `published`: the published results it reproduces). */
function setTask(name, bytes, extra = {}) {
  // Right after a trap the page's wasm instance is being replaced: the task is read by the new one.
  if (state.wasmReplacing) return state.wasmReplacing.then(() => setTask(name, bytes, extra));
  state.task = null;
  const status = $("task-status");
  status.className = "";
  try {
    const shots = fewShot();
    const view = JSON.parse(state.wasm.parse_task(bytes, $("task-type").value || undefined, shots?.shots, shots?.seed));
    state.task = { name, bytes, view, ...extra };
    const warnings = view.warnings.length ? ` ${view.warnings.length} warning(s): ${view.warnings.slice(0, 3).join("; ")}` : "";
    const demos = shots ? ` Each prompt is preceded by ${shots.shots} other examples with their answers.` : "";
    status.textContent = `${name}: ${view.examples.length} ${view.task_type} examples.${demos}${warnings}`;
  } catch (e) {
    status.className = "error";
    // A trap is a panic inside a reader (data damaged in a way it asserts against, not checks).
    const trapped = e instanceof WebAssembly.RuntimeError;
    if (trapped) replaceWasm();
    const why = trapped ? "the file could not be read: its reader stopped on damaged data (or invscale has a bug: see the browser console)" : (e.message ?? e);
    status.textContent = `${name}: ${why}`;
  }
  updateRunButton();
}

/** URLs the page's Content Security Policy refused to connect to. */
const refusedByPolicy = new Set();
addEventListener("securitypolicyviolation", (e) => e.effectiveDirective === "connect-src" && refusedByPolicy.add(e.blockedURI));

async function fetchBytes(url) {
  const response = await fetch(url).catch(async (e) => {
    await new Promise((resolve) => setTimeout(resolve, 50)); // the violation event comes apart
    if (refusedByPolicy.has(new URL(url, location.href).href)) {
      throw new Error(`cannot load ${url}: this page connects only to the Hub, GitHub's raw files and the machine it runs on (its Content Security Policy); load the file from your disk instead`);
    }
    throw new Error(`cannot load ${url}: ${e.message}`);
  });
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

async function loadBuiltins() {
  const index = JSON.parse(new TextDecoder().decode(await fetchBytes("tasks/index.json")));
  state.builtins = index.tasks;
  for (const t of index.tasks) $("builtin-task").append(node("option", `${t.title} (${t.examples} examples) — ${t.cause}`, { value: t.id }));
}

/** The prize's published tasks (www/tasks/prize.json), offered as Hub dataset ids. */
async function loadPrizeCatalogue() {
  state.prizeTasks = JSON.parse(new TextDecoder().decode(await fetchBytes("tasks/prize.json"))).tasks;
  for (const t of state.prizeTasks) $("prize-tasks").append(node("option", `${t.title} (round ${t.round})`, { value: t.id }));
}

function describePrizeTask(t) {
  const size = t.examples ? `, ${t.examples} examples` : "";
  return `${t.title}, by ${t.authors} (Inverse Scaling Prize, round ${t.round}${size}). Cause: ${t.cause}.` +
    (t.at_scale ? ` On larger models: ${t.at_scale}.` : "");
}

/** The pipeline's published GPT-2 results (models/published.json, or the `published` URL). */
async function loadPublished(url) {
  state.published = JSON.parse(new TextDecoder().decode(await fetchBytes(url)));
  for (const t of state.published.tasks) $("published-task").append(node("option", t.name, { value: t.name }));
}

/** Loads a published task with its models and the pipeline's truncation. */
async function choosePublished(name) {
  const entry = state.published?.tasks.find((t) => t.name === name);
  if (!entry) throw new Error(`no published task is named ${name}`);
  $("task-type").value = entry.type;
  $("truncation").value = "pipeline";
  for (const m of entry.models) selectRepo(m.model.replace(/^hub:/, ""));
  const url = httpUrl(`${state.published.data.replace(/\/$/, "")}/${entry.file}`);
  setTask(entry.file, await fetchBytes(url), { published: entry });
  $("task-explanation").textContent = `${entry.name}: the prize's pipeline published GPT-2 results for this task; they appear beside ours in the results.`;
  updateRunButton();
}

/** The published numbers of the shown task for a model named `name`, if any. */
function publishedFor(name) {
  const base = (spec) => spec.replace(/^hub:/, "").split("@")[0].split("/").pop();
  return state.shown?.published?.models.find((m) => base(m.model) === name) ?? null;
}

async function chooseBuiltin(id) {
  const task = state.builtins.find((t) => t.id === id);
  $("task-explanation").textContent = task ? `${task.cause}. ${task.explanation}` : "";
  if (task) setTask(task.file, await fetchBytes(`tasks/${task.file}`));
}

/** Loads `hub:<dataset id>[@revision]` (the `hub:` may be left out) from the chosen Hub. */
async function loadHubTask(spec) {
  spec = spec.trim();
  if (!spec) return;
  if (!spec.startsWith("hub:")) spec = `hub:${spec}`;
  const hub = httpUrl($("hub").value);
  const status = $("task-status");
  status.className = "";
  status.textContent = `${spec}: listing the dataset's files…`;
  const dataset = JSON.parse(state.wasm.hub_dataset(spec, hub));
  const tree = await fetchBytes(dataset.tree_url);
  const file = JSON.parse(state.wasm.hub_data_file(spec, hub, tree));
  status.textContent = `${file.name}: downloading ${megabytes(file.size)}…`;
  setTask(file.name, await fetchBytes(file.url));
  const entry = state.prizeTasks?.find((t) => spec.startsWith(`hub:${t.id}`));
  $("task-explanation").textContent = entry ? describePrizeTask(entry) : "";
}

async function readFile(file) {
  setTask(file.name, new Uint8Array(await file.arrayBuffer()));
  $("task-explanation").textContent = "";
}

// ---- models ----

async function loadRegistry() {
  const registry = JSON.parse(new TextDecoder().decode(await fetchBytes("registry.json")));
  state.registry = registry.models.map((m) => ({ ...m, bytes: Object.values(m.files).reduce((a, b) => a + b, 0) }));
  renderModelList();
}

function renderModelList() {
  const list = $("model-list");
  const checked = new Set([...list.querySelectorAll("input:checked")].map((i) => i.value));
  list.replaceChildren();
  for (const m of state.registry) {
    const box = node("input", undefined, { type: "checkbox", value: m.repo, "data-name": m.name });
    box.checked = checked.has(m.repo);
    box.addEventListener("change", updateRunButton);
    const size = m.bytes ? ` · ≈${megabytes(m.bytes)}` : "";
    const params = m.parameters ? ` · ${formatParams(m.parameters)} parameters` : "";
    const label = node("label");
    label.append(box, node("span", `${m.name}${params}${size}`), node("span", "", { class: "cached", "data-repo": m.repo }));
    list.appendChild(node("li")).append(label);
  }
  refreshCacheMarks();
}

async function refreshCacheMarks() {
  const hub = currentHub();
  for (const m of state.registry) {
    const mark = $("model-list").querySelector(`span.cached[data-repo="${CSS.escape(m.repo)}"]`);
    if (mark) mark.textContent = await cachedAs(hub, m.repo, m.revision);
  }
}

function currentHub() {
  try {
    return httpUrl($("hub").value || DEFAULT_HUB);
  } catch {
    return DEFAULT_HUB;
  }
}

/** `repo[@revision]` from the `models` URL parameter, ticked (and added when unknown). */
function selectRepo(spec) {
  const [repo, revision = "main"] = spec.trim().split("@");
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(repo)) throw new Error(`\`${spec}\` is not a Hub model id (owner/name[@revision])`);
  let entry = state.registry.find((m) => m.repo === repo || m.name === repo);
  if (!entry || entry.revision !== revision) {
    entry = { name: repo.split("/").pop(), repo, revision, parameters: null, bytes: null, extra: true };
    state.registry.push(entry);
    renderModelList();
  }
  $("model-list").querySelector(`input[value="${CSS.escape(entry.repo)}"]`).checked = true;
}

function pickFolder(fileList) {
  const dirs = new Map();
  for (const f of fileList) {
    const path = f.webkitRelativePath || f.name;
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
    if (!dirs.has(dir)) dirs.set(dir, {});
    dirs.get(dir)[f.name] = f;
  }
  const found = [...dirs].filter(([, files]) => files["config.json"] && files["model.safetensors"] && files["tokenizer.json"]);
  if (found.length === 0) {
    showError("the chosen folder has no model: it needs config.json, model.safetensors and tokenizer.json side by side");
    return;
  }
  for (const [dir, files] of found) state.locals.push({ name: dir.split("/").pop(), files, bytes: files["model.safetensors"].size });
  renderLocals();
}

function renderLocals() {
  const list = $("local-models");
  list.replaceChildren();
  state.locals.forEach((m, i) => {
    const box = node("input", undefined, { type: "checkbox", "data-local": String(i) });
    box.checked = true;
    box.addEventListener("change", updateRunButton);
    const label = node("label");
    label.append(box, node("span", `${m.name} (local, ${megabytes(m.bytes)})`));
    list.appendChild(node("li")).append(label);
  });
  updateRunButton();
}

function selectedModels() {
  const hub = currentHub();
  const models = [...$("model-list").querySelectorAll("input:checked")].map((box) => {
    const m = state.registry.find((r) => r.repo === box.value);
    return { name: m.name, source: { hub, repo: m.repo, revision: m.revision } };
  });
  for (const box of $("local-models").querySelectorAll("input:checked")) {
    const m = state.locals[Number(box.dataset.local)];
    models.push({ name: m.name, source: { name: m.name, files: m.files } });
  }
  return models;
}

function updateRunButton() {
  $("run").disabled = !state.task || selectedModels().length === 0 || state.run !== null;
}

// ---- run ----

async function startRun() {
  $("error").replaceChildren();
  if (!state.task) return failRun("choose a task first");
  const models = selectedModels();
  if (models.length === 0) return failRun("tick at least one model");
  const names = models.map((m) => m.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) return failRun(`two models are named ${dup}; untick one`);

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
function launchWorker(run) {
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
function recover(run, reason) {
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
async function keepRun(task, request, models) {
  const run = await runKey(task.bytes, request);
  const weights = (m) => (m.source.files ? null : hubFileInfo(m.source.hub, m.source.repo, m.source.revision).then((f) => f["model.safetensors"]?.sha256));
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
function keepExample(run, ev) {
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
async function offerResume() {
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
async function resumeRun(run) {
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
function fewShot() {
  const shots = Number($("shots").value) || 0;
  return shots > 0 ? { shots, seed: Number($("seed").value) || 0 } : null;
}

function failRun(message) {
  showError(message);
  setState("error");
}

function onEvent(ev) {
  const run = state.run;
  if (!run) return;
  const row = ev.model != null ? run.rows[ev.model] : null;
  switch (ev.event) {
    case "backend":
      run.backend = ev.backend;
      $("backend-status").textContent = ev.detail;
      $("backend-status").dataset.backend = ev.backend;
      if (ev.backend === "webgpu") describeAdapter().then((a) => a && ($("backend-status").textContent += ` (adapter: ${a})`));
      break;
    case "precision":
      $("precision-status").textContent = ev.detail;
      $("precision-status").hidden = false;
      break;
    case "model_start":
      row.label.textContent = "starting";
      break;
    case "download":
      if (ev.cached) row.label.textContent = `${ev.file}: from the cache`;
      else {
        row.label.textContent = `downloading ${ev.file}: ${megabytes(ev.loaded)} of ${megabytes(ev.total)}`;
        if (ev.total) row.bar.value = ev.loaded / ev.total;
      }
      break;
    case "loading":
      row.label.textContent = `moving weights to the device: ${megabytes(ev.loaded)} of ${megabytes(ev.total)}`;
      if (ev.total) row.bar.value = ev.loaded / ev.total;
      break;
    case "example":
      keepExample(run, ev);
      break;
    case "restored":
      row.label.textContent = `${ev.done} of ${ev.total} examples kept from an earlier run`;
      row.bar.value = ev.done / ev.total;
      row.restored = ev.done;
      break;
    case "loaded":
      row.parameters = ev.parameters;
      row.label.textContent = `loaded, ${formatParams(ev.parameters)} parameters`;
      row.wasmMemory = ev.wasm_memory_bytes;
      row.bar.value = 0;
      row.started = performance.now();
      break;
    case "progress": {
      row.bar.value = ev.done / ev.total;
      const elapsed = (performance.now() - row.started) / 1000;
      const scored = ev.done - (row.restored ?? 0);
      const eta = (elapsed / scored) * (ev.total - ev.done);
      const kept = row.restored ? ` (${row.restored} kept from before)` : "";
      row.label.textContent = `${ev.done} of ${ev.total} examples${kept} · ${(scored / elapsed).toFixed(1)}/s · ${Math.ceil(eta)} s left`;
      break;
    }
    case "model_done":
      row.label.textContent = row.restored ? `done (${row.restored} examples kept from before)` : "done";
      row.finished = true;
      row.bar.value = 1;
      state.reports.push({ ...ev.report, timing: { ...ev.timing, wasm_memory_bytes: row.wasmMemory } });
      state.csvs[ev.report.name] = ev.csv;
      renderResults();
      break;
    case "trend":
      state.trend = ev.trend;
      renderResults();
      break;
    case "notice": {
      // A notice about the whole job (e.g. kept results it could not read) names no model.
      const who = ev.model != null ? `${run.models[ev.model].name}: ` : "";
      const line = node("div", `${who}${ev.message}`, { class: "note" });
      $("progress").append(line);
      break;
    }
    case "device_lost":
      recover(run, `the WebGPU device was lost: ${ev.message}`);
      break;
    case "gpu_error":
      recover(run, ev.message);
      break;
    case "error":
      // The scorer trapping on WebGPU is most likely the GPU's doing.
      if (ev.model == null && /^the scorer stopped/.test(ev.message) && recover(run, ev.message)) break;
      run.errors++;
      if (row) {
        row.label.textContent = "failed";
        row.finished = true;
      }
      showError(ev.message);
      break;
    case "finished":
      finishRun();
      break;
  }
}

/** What the browser tells about its WebGPU adapter (vendor, architecture), for the status line. */
async function describeAdapter() {
  try {
    const info = (await navigator.gpu?.requestAdapter())?.info;
    return info ? [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") : "";
  } catch {
    return "";
  }
}

function cancelRun() {
  const run = state.run;
  if (!run) return;
  run.rows.forEach((r) => {
    if (!r.finished) r.label.textContent = "cancelled";
  });
  finishRun("cancelled");
}

async function finishRun(outcome) {
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
async function partialReports(run) {
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

function bundle(run, cancelled) {
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

function publishBundle(run, cancelled) {
  const json = JSON.stringify(bundle(run, cancelled), null, 1);
  $("results-json").textContent = json;
  const exports = $("exports");
  exports.replaceChildren(node("span", "Export: "));
  exports.append(downloadLink("results.json", json, "application/json"));
  for (const [name, csv] of Object.entries(state.csvs)) exports.append(" ", downloadLink(`${name}.csv`, csv, "text/csv"));
  for (const p of state.partials) exports.append(" ", downloadLink(`${p.name}.partial.csv`, p.csv, "text/csv"));
}

function downloadLink(filename, text, type) {
  const a = node("a", filename, { download: filename });
  a.href = URL.createObjectURL(new Blob([text], { type }));
  return a;
}

// ---- results ----

function fmt(x, digits = 4) {
  return x == null || Number.isNaN(x) ? "–" : Number(x).toFixed(digits);
}

function renderResults() {
  const first = state.reports[0] ?? state.partials?.[0];
  if (!first) return;
  $("results").hidden = false;
  const label = { loss: "mean loss", logodds_difference: "mean logodds difference", estimate: "mean estimate" }[first.metric];
  drawPlot($("plot"), {
    points: state.reports.map((r) => ({ name: r.name, parameters: r.parameters, mean: r.value.mean, sem: r.value.sem })),
    label,
    lowerIsBetter: first.metric === "estimate" ? null : true,
    chance: first.chance_loss ?? null,
    verdict: state.trend ? `${SHAPES[state.trend.verdict].title} (${percent(state.trend.confidence)})` : null,
  });
  $("plot-caption").textContent = `${label} of each model on ${state.shown.name}, against its parameter count. ` +
    (first.chance_loss != null ? `The dashed line is the loss of guessing uniformly among the classes (${fmt(first.chance_loss)}).` : "");
  renderVerdict();
  renderSummary(first);
  renderExamples();
}

/** Finished models, then those cut short (marked partial). */
function shownReports() {
  return [...state.reports, ...(state.partials ?? [])];
}

function modelLabel(r) {
  return r.partial ? `${r.name} (partial: ${r.partial.scored} of ${r.partial.examples} examples)` : r.name;
}

// What each verdict means, in the words of the rule in src/stats/trend.rs.
const SHAPES = {
  "inverse": { title: "Inverse scaling", text: "the largest model does worse than the smallest" },
  "positive": { title: "Positive scaling", text: "the largest model does better than the smallest" },
  "u-shaped": { title: "U-shaped scaling", text: "a middle-sized model does worse than both the smallest and the largest" },
  "inverted-u": { title: "Inverted-U scaling", text: "a middle-sized model does better than both the smallest and the largest" },
  "flat": { title: "No clear trend", text: "no model differs from the others by more than chance would explain" },
};

function percent(x) {
  return `${Math.round(100 * x)}%`;
}

function renderVerdict() {
  const t = state.trend;
  const p = $("verdict");
  p.hidden = !t;
  if (!t) return;
  const others = Object.entries(t.support)
    .filter(([shape, share]) => shape !== t.verdict && share > 0)
    .map(([shape, share]) => `${SHAPES[shape].title.toLowerCase()} ${percent(share)}`);
  p.textContent = `${SHAPES[t.verdict].title}: ${SHAPES[t.verdict].text}, comparing models on the same ${t.examples} examples. ` +
    `${percent(t.confidence)} of ${t.replicates} bootstrap resamples of the examples give this verdict` +
    (others.length ? ` (${others.join(", ")}).` : ".");
  p.dataset.verdict = t.verdict;
}

function renderSummary(first) {
  const table = $("summary-table");
  table.replaceChildren();
  const metric = first.metric;
  const head = node("tr");
  const published = Boolean(state.shown?.published);
  const headers = ["model", "parameters", `mean ${metric} ± s.e.`, "95% interval (bootstrap)", "accuracy ± s.e.", "coverage", "truncated"];
  if (published) headers.push("published loss / accuracy");
  for (const h of headers) head.append(node("th", h));
  table.appendChild(node("thead")).append(head);
  const body = table.appendChild(node("tbody"));
  for (const r of shownReports()) {
    const tr = body.appendChild(node("tr", undefined, r.partial ? { class: "partial" } : {}));
    tr.append(
      node("td", modelLabel(r)),
      node("td", formatParams(r.parameters)),
      node("td", `${fmt(r.value.mean)} ± ${fmt(r.value.sem)}`),
      node("td", interval(r.name)),
      node("td", r.accuracy ? `${fmt(r.accuracy.mean, 3)} ± ${fmt(r.accuracy.sem, 3)}` : "–"),
      node("td", r.coverage != null ? fmt(r.coverage) : "–"),
      node("td", String(r.truncated)),
    );
    if (published) {
      const p = publishedFor(r.name);
      tr.append(node("td", p ? `${fmt(p.loss, 3)} / ${fmt(p.accuracy, 3)}` : "–", { class: "published" }));
    }
  }
  if (first.chance_accuracy != null) {
    const tr = body.appendChild(node("tr", undefined, { class: "chance-row" }));
    tr.append(node("td", "chance"), node("td", ""), node("td", first.chance_loss != null ? fmt(first.chance_loss) : "–"), node("td", ""),
      node("td", fmt(first.chance_accuracy, 3)), node("td", ""), node("td", ""));
  }
}

/** The model's bootstrap interval from the trend, when there is one. */
function interval(name) {
  const m = state.trend?.models.find((m) => m.name === name);
  return m ? `${fmt(m.low)} – ${fmt(m.high)}` : "–";
}

function renderExamples() {
  const view = state.shown.view;
  const pages = Math.max(1, Math.ceil(view.examples.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages - 1);
  $("page-label").textContent = `page ${state.page + 1} of ${pages}`;
  $("page-prev").disabled = state.page === 0;
  $("page-next").disabled = state.page >= pages - 1;
  const table = $("examples-table");
  table.replaceChildren();
  const head = node("tr");
  const type = view.task_type;
  const inputs = {
    sequence_prob: ["row", "prompt", "completion"],
    classification: ["row", "prompt", "classes"],
    numeric: ["row", "prompt", "true answer", "anchor"],
  }[type] ?? ["row", "prompt", "other prompt", "classes"];
  for (const h of inputs) head.append(node("th", h));
  for (const r of shownReports()) head.append(node("th", type === "classification" ? `${modelLabel(r)}: P(class)` : modelLabel(r)));
  table.appendChild(node("thead")).append(head);
  const body = table.appendChild(node("tbody"));
  const start = state.page * PAGE_SIZE;
  view.examples.slice(start, start + PAGE_SIZE).forEach((ex, k) => {
    const i = start + k;
    const tr = body.appendChild(node("tr"));
    tr.append(node("td", ex.row), node("td", ex.prompt, { class: "text" }));
    if (type === "sequence_prob") tr.append(node("td", ex.completion, { class: "text" }));
    if (type === "numeric") tr.append(node("td", String(ex.true_answer)), node("td", String(ex.anchor)));
    if (ex.other_prompt !== undefined) tr.append(node("td", ex.other_prompt, { class: "text" }));
    if (ex.classes) {
      const list = node("ol", undefined, { start: "0" });
      ex.classes.forEach((c, j) => list.append(node("li", JSON.stringify(c), j === ex.answer_index ? { class: "answer" } : {})));
      tr.appendChild(node("td")).append(list);
    }
    for (const r of shownReports()) {
      const row = r.rows.find((x) => x.index === i);
      const cell = tr.appendChild(node("td", undefined, { class: "score" }));
      if (!row) continue;
      if (row.class_probabilities) {
        const list = node("ol", undefined, { start: "0" });
        row.class_probabilities.forEach((p) => list.append(node("li", p.toFixed(3))));
        cell.append(list);
      } else if (row.samples) {
        cell.append(node("div", `estimate ${row.estimate == null ? "none" : fmt(row.estimate, 2)}`));
        cell.append(node("div", row.samples.map((s) => JSON.stringify(s)).join(" · "), { class: "note" }));
      } else if (row.logodds_difference !== undefined) {
        cell.append(node("div", `Δ logodds ${fmt(row.logodds_difference)}`));
      } else {
        cell.append(node("div", `loss ${fmt(row.loss)}`));
      }
      if (row.correct !== undefined) cell.append(node("div", row.correct ? "✓ correct" : "✗ wrong", { class: row.correct ? "correct" : "wrong" }));
      if (row.truncated) cell.append(node("div", "truncated", { class: "note" }));
    }
  });
}

// ---- start-up ----

async function applyUrlParameters(params) {
  for (const [param, select] of [["type", "task-type"], ["backend", "backend"], ["truncation", "truncation"], ["precision", "precision"]]) {
    const value = params.get(param);
    if (value === null) continue;
    if (![...$(select).options].some((o) => o.value === value)) throw new Error(`unknown ${param} \`${value}\` in the page's URL`);
    $(select).value = value;
  }
  for (const param of ["shots", "seed"]) {
    const value = params.get(param);
    if (value === null) continue;
    if (!/^\d+$/.test(value)) throw new Error(`${param} in the page's URL must be a whole number, not \`${value}\``);
    $(param).value = value;
  }
  if (params.get("reproduce")) await choosePublished(params.get("reproduce"));
  if (params.get("models")) for (const spec of params.get("models").split(",").filter(Boolean)) selectRepo(spec);
  const task = params.get("task");
  if (task?.startsWith("hub:")) {
    $("hub-task").value = task.slice(4);
    await loadHubTask(task);
  } else if (task) {
    const url = httpUrl(task);
    setTask(decodeURIComponent(new URL(url).pathname.split("/").pop() || "task"), await fetchBytes(url));
  }
  updateRunButton();
  if (params.get("run") === "1") {
    if (!state.task) throw new Error("run=1 needs a task that parses (see the task status above)");
    await startRun();
  }
}

async function main() {
  state.wasm = await wasmBindings();
  const params = new URLSearchParams(location.search);
  $("hub").value = params.get("hub") ? httpUrl(params.get("hub")) : DEFAULT_HUB;
  const published = params.get("published") ? httpUrl(params.get("published")) : "published.json";
  await Promise.all([loadRegistry(), loadBuiltins(), loadPrizeCatalogue(), loadPublished(published)]);

  $("load-hub-task").addEventListener("click", () => loadHubTask($("hub-task").value).catch(taskError));
  $("hub-task").addEventListener("keydown", (e) => e.key === "Enter" && loadHubTask($("hub-task").value).catch(taskError));
  $("builtin-task").addEventListener("change", (e) => chooseBuiltin(e.target.value).catch((err) => showError(err.message)));
  $("task-file").addEventListener("change", (e) => e.target.files[0] && readFile(e.target.files[0]));
  for (const id of ["task-type", "shots", "seed"]) {
    $(id).addEventListener("change", () => state.task && setTask(state.task.name, state.task.bytes, { published: state.task.published }));
  }
  $("load-published").addEventListener("click", () => choosePublished($("published-task").value).catch(taskError));
  $("use-paste").addEventListener("click", () => setTask("pasted task", new TextEncoder().encode($("task-paste").value)));
  const drop = $("drop-zone");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) readFile(e.dataTransfer.files[0]);
  });
  $("model-folder").addEventListener("change", (e) => pickFolder(e.target.files));
  $("hub").addEventListener("change", refreshCacheMarks);
  $("run").addEventListener("click", () => startRun().catch((e) => failRun(e.message ?? String(e))));
  $("forget-runs").addEventListener("click", async () => {
    await forgetAll();
    $("resume-offer").hidden = true;
    $("forget-status").textContent = "forgotten";
  });
  $("cancel").addEventListener("click", cancelRun);
  $("page-prev").addEventListener("click", () => { state.page--; renderExamples(); });
  $("page-next").addEventListener("click", () => { state.page++; renderExamples(); });
  setState("idle");
  if (!params.get("run")) await offerResume();
  await applyUrlParameters(params);
}

// A failure outside any handler (e.g. the wasm module failed to load) must not leave the page
// waiting silently.
addEventListener("unhandledrejection", (e) => failRun(`the page failed: ${e.reason?.message ?? e.reason}`));
main().catch((e) => failRun(e.message ?? String(e)));
