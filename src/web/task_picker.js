// @ts-check
// The task picker: built-in tasks, the prize's catalogue and published tasks, Hub datasets,
// files (pick, drop, paste). Parsing is the wasm module's; this shows its verdict.
import { megabytes } from "./format.js";
import { selectRepo, updateRunButton } from "./model_picker.js";
import { $, fetchBytes, httpUrl, node, showError, state } from "./page.js";
import { fewShotOf, readSettings } from "./settings.js";
/** @import { Task } from "./page.js" */

/** A task that could not be loaded: said where the task's status goes. */
export function taskError(e) {
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
export function replaceWasm() {
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

/**
 * `extra` travels with the task (e.g. `published`: the published results it reproduces).
 * @param {string} name
 * @param {Uint8Array<ArrayBuffer>} bytes
 * @param {Pick<Task, "published" | "link">} [extra]
 * @returns {Promise<void> | void}
 */
export function setTask(name, bytes, extra = {}) {
  // Right after a trap the page's wasm instance is being replaced: the task is read by the new one.
  if (state.wasmReplacing) return state.wasmReplacing.then(() => setTask(name, bytes, extra));
  state.task = null;
  const status = $("task-status");
  status.className = "";
  try {
    const shots = fewShot();
    const view = state.wasm.parse_task(bytes, $("task-type").value || undefined, shots?.shots, shots?.seed);
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

/** The few-shot settings, or null for zero-shot. */
export function fewShot() {
  return fewShotOf(readSettings());
}

export async function loadBuiltins() {
  const index = JSON.parse(new TextDecoder().decode(await fetchBytes("tasks/index.json")));
  state.builtins = index.tasks;
  for (const t of index.tasks) $("builtin-task").append(node("option", `${t.title} (${t.examples} examples) — ${t.cause}`, { value: t.id }));
}

/** The prize's published tasks (www/tasks/prize.json), offered as Hub dataset ids. */
export async function loadPrizeCatalogue() {
  state.prizeTasks = JSON.parse(new TextDecoder().decode(await fetchBytes("tasks/prize.json"))).tasks;
  for (const t of state.prizeTasks) $("prize-tasks").append(node("option", `${t.title} (round ${t.round})`, { value: t.id }));
}

export function describePrizeTask(t) {
  const size = t.examples ? `, ${t.examples} examples` : "";
  return `${t.title}, by ${t.authors} (Inverse Scaling Prize, round ${t.round}${size}). Cause: ${t.cause}.` +
    (t.at_scale ? ` On larger models: ${t.at_scale}.` : "");
}

/** The pipeline's published GPT-2 results (models/published.json, or the `published` URL). */
export async function loadPublished(url) {
  state.published = JSON.parse(new TextDecoder().decode(await fetchBytes(url)));
  for (const t of state.published.tasks) $("published-task").append(node("option", t.name, { value: t.name }));
}

/**
 * Loads a published task with its models and the pipeline's truncation.
 * @param {string} name
 */
export async function choosePublished(name) {
  const entry = state.published?.tasks.find((t) => t.name === name);
  if (!entry) throw new Error(`no published task is named ${name}`);
  $("task-type").value = entry.type;
  $("truncation").value = "pipeline";
  for (const m of entry.models) selectRepo(m.model);
  const url = httpUrl(`${state.published.data.replace(/\/$/, "")}/${entry.file}`);
  setTask(entry.file, await fetchBytes(url), { published: entry, link: { reproduce: name } });
  $("task-explanation").textContent = `${entry.name}: the prize's pipeline published GPT-2 results for this task; they appear beside ours in the results.`;
  updateRunButton();
}

/**
 * The published numbers of the shown task for a model named `name`, if any.
 * @param {string} name
 */
export function publishedFor(name) {
  // The name a model's results get (the Hub's rule, in the wasm module); a folder keeps its own.
  const base = (spec) => {
    try {
      return state.wasm.hub_model(spec, "").name;
    } catch {
      return spec;
    }
  };
  return state.shown?.published?.models.find((m) => base(m.model) === name) ?? null;
}

/** @param {string} id */
export async function chooseBuiltin(id) {
  const task = state.builtins.find((t) => t.id === id);
  $("task-explanation").textContent = task ? `${task.cause}. ${task.explanation}` : "";
  if (task) setTask(task.file, await fetchBytes(`tasks/${task.file}`), { link: { task: `tasks/${task.file}` } });
}

/**
 * Loads `hub:<dataset id>[@revision]` (the `hub:` may be left out) from the chosen Hub.
 * @param {string} spec
 */
export async function loadHubTask(spec) {
  spec = spec.trim();
  if (!spec) return;
  if (!spec.startsWith("hub:")) spec = `hub:${spec}`;
  const hub = httpUrl($("hub").value);
  const status = $("task-status");
  status.className = "";
  status.textContent = `${spec}: listing the dataset's files…`;
  const dataset = state.wasm.hub_dataset(spec, hub);
  const tree = await fetchBytes(dataset.tree_url);
  const file = state.wasm.hub_data_file(spec, hub, tree);
  status.textContent = `${file.name}: downloading ${megabytes(file.size)}…`;
  setTask(file.name, await fetchBytes(file.url), { link: { task: spec } });
  const entry = state.prizeTasks?.find((t) => spec.startsWith(`hub:${t.id}`));
  $("task-explanation").textContent = entry ? describePrizeTask(entry) : "";
}

/** @param {File} file */
export async function readFile(file) {
  setTask(file.name, new Uint8Array(await file.arrayBuffer()));
  $("task-explanation").textContent = "";
}
