// @ts-check
// A run from start to end: the models and settings it starts with (a snapshot its exports
// read), the workers it hands them to, and what it leaves when it finishes or is cancelled.
// The workers (`worker_pool.js`), their events (`run_events.js`), the reports
// (`run_reports.js`), the kept runs (`run_resume.js`) and the exports (`exports.js`) each
// have their own module.
import { comparisonStep, runEnded } from "./comparison.js";
import { publishBundle } from "./exports.js";
import { refreshCacheMarks, selectedModels, updateRunButton } from "./model_picker.js";
import { $, node, setState, showError, state } from "./page.js";
import { renderResults } from "./results.js";
import { onEvent } from "./run_events.js";
import { partialReports } from "./run_reports.js";
import { keepRun } from "./run_resume.js";
import { keptResults, saveRun } from "./run_store.js";
import { jobRequest, readSettings } from "./settings.js";
import { setTask } from "./task_picker.js";
import { launchWorkers } from "./worker_pool.js";

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

  // The settings as the run starts: a comparison changes the controls between its runs.
  const settings = readSettings();
  const hooks = { onEvent, finish: finishRun };
  const comparison = state.comparison ? { original: state.comparison.original } : null;
  state.run = { models, rows, settings, hub: $("hub").value, comparison, hooks, backend: null, errors: 0, recoveries: 0, total: state.task.view.examples.length };
  setState("running");
  $("run").disabled = true;
  $("cancel").disabled = false;
  state.run.request = jobRequest(settings, models.map((m) => m.name));
  const store = await keepRun(state.task, state.run, models);
  Object.assign(state.run, { store, bytes: state.task.bytes });
  const kept = await keptResults(store.run, store.models).catch(() => models.map(() => []));
  // Each model's results by example index: kept ones, then each `example` event's.
  state.run.results = kept.map((results) => new Map(results.map((r) => [r.index, r])));
  await launchWorkers(state.run);
}

/** @param {string} message */
export function failRun(message) {
  showError(message);
  setState("error");
}

export function cancelRun() {
  const run = state.run;
  if (!run) return;
  run.rows.forEach((r) => {
    if (!r.finished) r.label.textContent = "cancelled";
  });
  finishRun("cancelled");
}

/** @param {string} [outcome] "cancelled", or none when the workers finished */
export async function finishRun(outcome) {
  const run = state.run;
  if (!run || run.finishing) return;
  run.finishing = true;
  run.workers?.forEach((w) => w.terminate());
  $("cancel").disabled = true;
  await run.writes;
  // (The run stays the page's until its partial results are read, so Run waits for them.)
  state.partials = await partialReports(run).catch((e) => (showError(`the partial results cannot be exported: ${e.message ?? e}`), []));
  run.evaluation?.free(); // what the reports need is read out
  run.evaluation = null;
  state.run = null;
  updateRunButton();
  if (state.partials.length) renderResults();
  const complete = outcome !== "cancelled" && run.errors === 0 && state.reports.length === run.models.length;
  // A comparison of settings goes on with its next setting; its last run shows them all.
  const another = await runEnded(outcome, complete, startRun, setTask);
  if (state.comparison?.finished && complete) renderResults();
  publishBundle(run, outcome === "cancelled");
  // A complete run is not offered for resuming; its results stay kept for a repeat. Written
  // before the page says the run ended, so a tab closed then is not offered it again.
  if (complete && run.store?.run) await saveRun({ key: run.store.run, complete: true }).catch(() => {});
  refreshCacheMarks();
  if (!another) setState(outcome === "cancelled" ? "cancelled" : run.errors > 0 ? "error" : "done");
}
