// @ts-check
// Runs kept in the browser, resumed: each run is recorded as it starts (task, models, its
// settings), and a reload offers the last one that did not finish; resuming scores only the
// examples not kept.
import { comparisonKept, startComparison } from "./comparison.js";
import { hubFileInfo } from "./files.js";
import { selectRepo } from "./model_picker.js";
import { $, showError, state } from "./page.js";
import { forgetRun, lastUnfinishedRun, modelKey, runKey, saveRun } from "./run_store.js";
import { applySettings, numbersOf } from "./settings.js";
import { setTask } from "./task_picker.js";
/** @import { Model, Run, Task } from "./page.js" */

/**
 * Records the run in the browser, so a reload can offer to resume it; returns the keys under
 * which the worker keeps (and finds) each model's results. Fills in the size of models whose
 * size only the Hub's listing gives.
 * @param {Task} task
 * @param {Run} run
 * @param {Model[]} models
 */
export async function keepRun(task, run, models) {
  const key = await runKey(task.bytes, numbersOf(run.request));
  const weights = await Promise.all(models.map((m) => (m.source.files ? null : hubFileInfo(m.source, state.wasm.hub_file_info).then((f) => f.weights))));
  // The Hub's listing also tells the size of a model the registry does not know (for the workers' memory).
  models.forEach((m, i) => (m.bytes ??= weights[i]?.bytes ?? null));
  const keys = await Promise.all(models.map((m, i) => modelKey(m.source, weights[i]?.sha256)));
  const record = {
    key,
    task: task.name,
    bytes: task.bytes,
    published: task.published ?? null,
    link: task.link ?? null,
    settings: { controls: run.settings, hub: run.hub, compare: comparisonKept() },
    models: models.map((m, i) => ({ name: m.name, key: keys[i], hub: m.source.files ? null : m.source })),
    total: task.view.examples.length,
    started: Date.now(),
    complete: false,
  };
  await saveRun(record).catch((e) => showError(`this run cannot be kept in the browser (${e.message}); a reload would lose it`));
  return { run: key, models: keys };
}

/**
 * Offers the last run that did not finish, if there is one.
 * @param {() => Promise<unknown>} startRun
 */
export async function offerResume(startRun) {
  const run = await lastUnfinishedRun().catch(() => null);
  if (!run) return;
  const kept = run.kept.reduce((a, b) => a + b, 0);
  const names = run.models.map((m) => m.name).join(", ");
  const compare = run.settings.compare;
  const step = compare ? ` (comparing settings: run ${compare.index + 1} of ${compare.runs})` : "";
  $("resume-text").textContent = `${run.task} with ${names}${step}, started ${new Date(run.started).toLocaleString()}: ` +
    `${kept} of ${run.total * run.models.length} examples were scored and kept. Resuming scores only the others.`;
  $("resume-offer").hidden = false;
  $("resume-run").onclick = () => resumeRun(run, startRun).catch((e) => showError(e.message));
  $("discard-run").onclick = async () => {
    $("resume-offer").hidden = true;
    await forgetRun(run.key);
  };
}

/**
 * Restores a kept run's task, models and settings, and runs it: only unscored examples are scored.
 * @param {any} run the run's record as kept in the browser, by this page or an earlier version
 * @param {() => Promise<unknown>} startRun
 */
export async function resumeRun(run, startRun) {
  $("resume-offer").hidden = true;
  state.comparison = null;
  const s = run.settings;
  applySettings(s.controls ?? keptBefore(s));
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
    applySettings(s.compare.original);
    $("compare").value = s.compare.kind;
  }
  if (missing.length) {
    showError(`pick the local model folder(s) ${missing.join(", ")} again, then press Run: the browser does not keep access to local files`);
    return;
  }
  await (s.compare ? startComparison(startRun, setTask) : startRun());
}

/** The controls of a run kept before runs recorded them by control: its request's fields. */
function keptBefore(s) {
  return { "task-type": s.task_type ?? "", truncation: s.truncation, backend: s.backend, precision: s.precision ?? "f32", shots: s.shots, seed: s.seed };
}
