// The model picker: the registry's Hub models (with cache marks), local folders, and what a
// run gets of each (its source: see files.js).
import { megabytes } from "./download.js";
import { cachedAs } from "./files.js";
import { $, httpUrl, node, showError, state } from "./page.js";
import { formatParams } from "./plot.js";
import { fetchBytes } from "./task_picker.js";

export async function loadRegistry() {
  const registry = JSON.parse(new TextDecoder().decode(await fetchBytes("registry.json")));
  // The page offers the models whose files it knows (the GPT-2 family); the others are the CLI's.
  const offered = registry.models.filter((m) => m.files);
  state.registry = offered.map((m) => ({ ...m, bytes: Object.values(m.files).reduce((a, b) => a + b, 0) }));
  renderModelList();
}

export function renderModelList() {
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

export async function refreshCacheMarks() {
  const hub = currentHub();
  for (const m of state.registry) {
    const mark = $("model-list").querySelector(`span.cached[data-repo="${CSS.escape(m.repo)}"]`);
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

/** A Hub model `owner/name[@revision]` on `hub`: its URLs and name (see files.js); throws if `spec` is none. */
export function hubSource(hub, spec) {
  return JSON.parse(state.wasm.hub_model(`hub:${spec.trim()}`, hub));
}

/** `repo[@revision]` from the `models` URL parameter, ticked (and added when unknown). */
export function selectRepo(spec) {
  const { repo, revision, name } = hubSource(currentHub(), spec);
  let entry = state.registry.find((m) => m.repo === repo || m.name === repo);
  if (!entry || entry.revision !== revision) {
    entry = { name, repo, revision, parameters: null, bytes: null, extra: true };
    state.registry.push(entry);
    renderModelList();
  }
  $("model-list").querySelector(`input[value="${CSS.escape(entry.repo)}"]`).checked = true;
}

export function pickFolder(fileList) {
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

/** The ticked models: `{name, source, bytes}`, `bytes` their files' size when known. */
export function selectedModels() {
  const hub = currentHub();
  const models = [...$("model-list").querySelectorAll("input:checked")].map((box) => {
    const m = state.registry.find((r) => r.repo === box.value);
    return { name: m.name, source: hubSource(hub, `${m.repo}@${m.revision}`), bytes: m.bytes };
  });
  for (const box of $("local-models").querySelectorAll("input:checked")) {
    const m = state.locals[Number(box.dataset.local)];
    models.push({ name: m.name, source: { name: m.name, files: m.files }, bytes: m.bytes });
  }
  return models;
}

export function updateRunButton() {
  $("run").disabled = !state.task || selectedModels().length === 0 || state.run !== null;
}
