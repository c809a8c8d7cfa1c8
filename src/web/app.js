// @ts-check
// The page's start: URL parameters, wiring of the controls. Everything a task or a user
// supplies is inserted as text (textContent, createElement), never as HTML. Parsing and all
// numbers come from the wasm module and the worker; the page only shows them.
import { loadRegistry, pickFolder, refreshCacheMarks, selectRepo, tickTrainingSteps, updateRunButton } from "./model_picker.js";
import { $, fetchBytes, httpUrl, setState, showError, state, wasmBindings } from "./page.js";
import { focusModel, renderExamples } from "./examples_view.js";
import { watchPlotClicks } from "./results.js";
import { cancelRun, failRun, startRun } from "./run_control.js";
import { offerResume } from "./run_resume.js";
import { forgetAll } from "./run_store.js";
import { applySettings, settingsFromUrl } from "./settings.js";
import { startComparison } from "./comparison.js";
import { unpackTask, watchEditor } from "./task_editor.js";
import { chooseBuiltin, choosePublished, loadBuiltins, loadHubTask, loadPrizeCatalogue, loadPublished, readFile, setTask, taskError } from "./task_picker.js";

async function applyUrlParameters(params) {
  applySettings(settingsFromUrl(params));
  if (params.get("reproduce")) await choosePublished(params.get("reproduce"));
  if (params.get("models")) for (const spec of params.get("models").split(",").filter(Boolean)) selectRepo(spec);
  const task = params.get("task");
  if (params.get("task-data")) {
    // A link from the task editor holds the task itself.
    setTask("linked task", await unpackTask(params.get("task-data")), { link: { "task-data": params.get("task-data") } });
  } else if (task?.startsWith("hub:")) {
    $("hub-task").value = task.slice(4);
    await loadHubTask(task);
  } else if (task) {
    const url = httpUrl(task);
    setTask(decodeURIComponent(new URL(url).pathname.split("/").pop() || "task"), await fetchBytes(url), { link: { task } });
  }
  updateRunButton();
  if (params.get("run") === "1") {
    if (!state.task) throw new Error("run=1 needs a task that parses (see the task status above)");
    await startComparison(startRun, setTask);
  }
}

async function main() {
  state.wasm = await wasmBindings();
  const params = new URLSearchParams(location.search);
  $("hub").value = params.get("hub") ? httpUrl(params.get("hub")) : state.wasm.default_hub();
  const published = params.get("published") ? httpUrl(params.get("published")) : "published.json";
  await Promise.all([loadRegistry(), loadBuiltins(), loadPrizeCatalogue(), loadPublished(published)]);

  $("load-hub-task").addEventListener("click", () => loadHubTask($("hub-task").value).catch(taskError));
  $("hub-task").addEventListener("keydown", (e) => e.key === "Enter" && loadHubTask($("hub-task").value).catch(taskError));
  $("builtin-task").addEventListener("change", (e) => chooseBuiltin(/** @type {HTMLSelectElement} */ (e.target).value).catch((err) => showError(err.message)));
  $("task-file").addEventListener("change", (e) => {
    const files = /** @type {HTMLInputElement} */ (e.target).files;
    if (files[0]) readFile(files[0]);
  });
  for (const id of ["task-type", "shots", "seed"]) {
    $(id).addEventListener("change", () => state.task && setTask(state.task.name, state.task.bytes, { published: state.task.published, link: state.task.link }));
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
  $("model-folder").addEventListener("change", (e) => pickFolder(/** @type {HTMLInputElement} */ (e.target).files));
  $("tick-steps").addEventListener("click", tickTrainingSteps);
  $("hub").addEventListener("change", refreshCacheMarks);
  $("run").addEventListener("click", () => startComparison(startRun, setTask).catch((e) => failRun(e.message ?? String(e))));
  $("forget-runs").addEventListener("click", async () => {
    await forgetAll();
    $("resume-offer").hidden = true;
    $("forget-status").textContent = "forgotten";
  });
  $("cancel").addEventListener("click", cancelRun);
  for (const id of ["example-order", "example-class"]) $(id).addEventListener("change", () => { state.page = 0; renderExamples(); });
  $("show-all-models").addEventListener("click", () => focusModel(null));
  watchPlotClicks();
  watchEditor();
  $("page-prev").addEventListener("click", () => { state.page--; renderExamples(); });
  $("page-next").addEventListener("click", () => { state.page++; renderExamples(); });
  setState("idle");
  if (!params.get("run")) await offerResume(startRun);
  await applyUrlParameters(params);
}

// A failure outside any handler (e.g. the wasm module failed to load) must not leave the page
// waiting silently.
addEventListener("unhandledrejection", (e) => failRun(`the page failed: ${e.reason?.message ?? e.reason}`));
main().catch((e) => failRun(e.message ?? String(e)));
