// @ts-check
// The model picker: the registry's Hub models (with cache marks), local folders, and what a
// run gets of each (its source: see files.js).
import { cachedAs } from "./files.js";
import { formatParams, megabytes } from "./format.js";
import { $, fetchBytes, httpUrl, node, showError, state } from "./page.js";
/** @import { ModelSource } from "./files.js" */
/** @import { Model } from "./page.js" */

export async function loadRegistry() {
  const registry = JSON.parse(new TextDecoder().decode(await fetchBytes("registry.json")));
  state.families = registry.families;
  // Sizes the registry gives (the GPT-2 family); the others' come from the Hub's listing when a run starts.
  state.registry = registry.models.map((m) => ({ ...m, bytes: m.files ? Object.values(m.files).reduce((a, b) => a + b, 0) : null }));
  renderModelList();
  renderTrainingPicker();
}

/** How a registry entry is named in the page's lists and URLs: `repo`, or `repo@revision`. */
export function entrySpec(m) {
  return state.wasm.hub_model_spec(m.repo, m.revision);
}

/** The registry's models grouped by family (in the registry's order), then models named by URL. */
export function renderModelList() {
  const list = $("model-list");
  const checked = new Set([...checkedBoxes(list)].map((i) => i.value));
  list.replaceChildren();
  /** @type {{id: string | null, name: string, note?: string}[]} */
  const groups = [...state.families.map((f) => ({ id: f.id, name: f.name, note: f.note })), { id: null, name: "Other models" }];
  for (const group of groups) {
    const models = state.registry.filter((m) => (group.id == null ? !state.families.some((f) => f.id === m.family) : m.family === group.id));
    if (models.length === 0) continue;
    const fieldset = node("fieldset", undefined, { class: "family", "data-family": group.id ?? "other" });
    const legend = node("legend", group.name);
    if (group.note) legend.title = group.note;
    const ul = node("ul");
    fieldset.append(legend, ul);
    for (const m of models) {
      const spec = entrySpec(m);
      const box = node("input", undefined, { type: "checkbox", value: spec, "data-name": m.name });
      box.checked = checked.has(spec);
      box.addEventListener("change", updateRunButton);
      const size = m.bytes ? ` · ≈${megabytes(m.bytes)}` : "";
      const params = m.parameters ? ` · ${formatParams(m.parameters)} parameters` : "";
      const label = node("label");
      label.append(box, node("span", `${m.name}${params}${size}`), node("span", "", { class: "cached", "data-repo": spec }));
      ul.appendChild(node("li")).append(label);
    }
    list.append(fieldset);
  }
  refreshCacheMarks();
}

/**
 * The through-training picker: the sizes of each family that publishes training steps, and
 * the steps to tick (the family's suggestion to start with).
 */
export function renderTrainingPicker() {
  const sizes = $("training-sizes");
  sizes.replaceChildren();
  const families = state.families.filter((f) => f.training_steps);
  for (const family of families) {
    for (const m of state.registry.filter((r) => r.family === family.id && !r.extra)) {
      const box = node("input", undefined, { type: "checkbox", value: m.repo, "data-family": family.id });
      const label = node("label");
      label.append(box, node("span", `${m.name} · ${formatParams(m.parameters)} parameters`));
      sizes.appendChild(node("li")).append(label);
    }
  }
  const first = families[0]?.training_steps;
  if (first && !$("training-steps").value) $("training-steps").value = first.suggested.join(", ");
}

/** The training steps a family publishes, in order. */
function publishedSteps({ steps, every, last }) {
  const all = [...steps];
  for (let s = every; s <= last; s += every) all.push(s);
  return all;
}

/**
 * Ticks the chosen sizes at each typed training step (`repo@step{N}`, added to the list);
 * says which steps the family does not publish.
 */
export function tickTrainingSteps() {
  const status = $("training-status");
  const boxes = [...checkedBoxes($("training-sizes"))];
  if (boxes.length === 0) return (status.textContent = "tick at least one size");
  const typed = $("training-steps").value.split(/[\s,]+/).filter(Boolean);
  let ticked = 0;
  const unknown = new Set();
  for (const box of boxes) {
    const family = state.families.find((f) => f.id === box.dataset.family);
    const published = new Set(publishedSteps(family.training_steps));
    for (const step of typed) {
      if (!/^\d+$/.test(step) || !published.has(Number(step))) {
        unknown.add(step);
        continue;
      }
      selectRepo(`${box.value}@${family.training_steps.revision.replace("{step}", String(Number(step)))}`);
      ticked++;
    }
  }
  const { steps, every, last } = state.families.find((f) => f.id === boxes[0].dataset.family).training_steps;
  const nameUnknown = unknown.size ? ` ${[...unknown].join(", ")}: not a published step (${steps.join(", ")}, then every ${every} to ${last})` : "";
  status.textContent = `${ticked} checkpoints ticked.${nameUnknown}`;
  updateRunButton();
}

export async function refreshCacheMarks() {
  const hub = currentHub();
  for (const m of state.registry) {
    const mark = $("model-list").querySelector(`span.cached[data-repo="${CSS.escape(entrySpec(m))}"]`);
    if (mark) mark.textContent = await cachedAs(hubSource(hub, `${m.repo}@${m.revision}`));
  }
}

export function currentHub() {
  try {
    return httpUrl($("hub").value || state.wasm.default_hub());
  } catch {
    return state.wasm.default_hub();
  }
}

/**
 * A Hub model `owner/name[@revision]` on `hub`: its URLs and name (see files.js); throws if `spec` is none.
 * @param {string} hub
 * @param {string} spec
 * @returns {ModelSource}
 */
export function hubSource(hub, spec) {
  return state.wasm.hub_model(spec, hub);
}

/**
 * `repo[@revision]` (or a registry name with one) from the `models` URL parameter or the
 * through-training picker, ticked; added when the list does not have it (another revision of
 * a registry model keeps its family and size).
 * @param {string} spec
 */
export function selectRepo(spec) {
  const named = state.registry.find((m) => m.name === spec.split("@")[0] && !m.extra);
  const { repo, revision, name } = hubSource(currentHub(), named ? spec.replace(named.name, named.repo) : spec);
  let entry = state.registry.find((m) => m.repo === repo && m.revision === revision);
  if (!entry) {
    const known = state.registry.find((m) => m.repo === repo);
    entry = { name, family: known?.family ?? null, repo, revision, parameters: known?.parameters ?? null, bytes: known?.bytes ?? null, extra: true };
    state.registry.push(entry);
    renderModelList();
  }
  /** @type {HTMLInputElement} */ ($("model-list").querySelector(`input[value="${CSS.escape(entrySpec(entry))}"]`)).checked = true;
}

/** @param {FileList} fileList */
export function pickFolder(fileList) {
  const dirs = new Map();
  for (const f of fileList) {
    const path = f.webkitRelativePath || f.name;
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
    if (!dirs.has(dir)) dirs.set(dir, {});
    dirs.get(dir)[f.name] = f;
  }
  // The core says which files make a model (the weights last), or what a folder lacks.
  const found = [];
  const problems = [];
  for (const [dir, files] of dirs) {
    try {
      const needed = state.wasm.model_folder_files(Object.keys(files));
      found.push([dir, files, needed.at(-1)]);
    } catch (e) {
      problems.push(`${dir}: ${e.message}`);
    }
  }
  if (found.length === 0) {
    showError(`the chosen folder has no model: ${problems.join("; ")}`);
    return;
  }
  for (const [dir, files, weights] of found) {
    // A sharded checkpoint's size is its shards': every file of the weights' kind.
    const kind = weights.replace(/\.index\.json$/, "").split(".").pop();
    const bytes = Object.values(files).filter((f) => f.name.endsWith(`.${kind}`)).reduce((n, f) => n + f.size, 0);
    state.locals.push({ name: dir.split("/").pop(), files, weights, bytes });
  }
  renderLocals();
}

export function renderLocals() {
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

/**
 * The ticked models: `{name, source, bytes}`, `bytes` their files' size when known.
 * @returns {Model[]}
 */
export function selectedModels() {
  const hub = currentHub();
  const models = [...checkedBoxes($("model-list"))].map((box) => {
    const m = state.registry.find((r) => entrySpec(r) === box.value);
    return { name: m.name, source: hubSource(hub, `${m.repo}@${m.revision}`), bytes: m.bytes };
  });
  for (const box of checkedBoxes($("local-models"))) {
    const m = state.locals[Number(box.dataset.local)];
    models.push({ name: m.name, source: { name: m.name, files: m.files, weights: m.weights }, bytes: m.bytes });
  }
  return models;
}

/**
 * The ticked checkboxes in `list`.
 * @param {HTMLElement} list
 */
function checkedBoxes(list) {
  return /** @type {NodeListOf<HTMLInputElement>} */ (list.querySelectorAll("input:checked"));
}

export function updateRunButton() {
  $("run").disabled = !state.task || selectedModels().length === 0 || state.run !== null;
}
