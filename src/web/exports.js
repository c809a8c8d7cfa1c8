// @ts-check
// What a run leaves the user: results.json (written by the wasm module), each model's CSV and
// partial CSV, and a link that runs it again. Each reads the run's own settings, as it started.
import { comparisonBundle } from "./comparison.js";
import { $, node, showError, state } from "./page.js";
import { settingsToUrl } from "./settings.js";
/** @import { Run } from "./page.js" */

/**
 * @param {Run} run
 * @param {boolean} cancelled
 */
export function bundle(run, cancelled) {
  const view = state.shown.view;
  return {
    task: state.shown.name,
    task_type: view.task_type,
    examples: view.examples.length,
    // The run's own settings, as it started: a comparison puts the controls back after its last run.
    truncation: run.request.truncation,
    few_shot: run.request.few_shot,
    backend: run.backend ?? run.request.backend,
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

/**
 * @param {Run} run
 * @param {boolean} cancelled
 */
export function publishBundle(run, cancelled) {
  // Written by the wasm module in the schema the CLI's `--bundle` writes; a field the page got
  // wrong is named rather than exported.
  let json;
  try {
    json = state.wasm.results_bundle(bundle(run, cancelled));
  } catch (e) {
    showError(`results.json cannot be written: ${e.message ?? e}`);
    return;
  }
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
 * @param {Run} run
 */
export function runLink(run) {
  const task = state.shown?.link;
  if (!task || run.models.some((m) => m.source.files)) return null;
  const params = new URLSearchParams(task);
  params.set("models", run.models.map((m) => m.source.spec).join(","));
  if (run.hub !== state.wasm.default_hub()) params.set("hub", run.hub);
  // A comparison's link runs the whole comparison from the settings it started with.
  settingsToUrl({ ...run.settings, ...(run.comparison?.original ?? {}) }, params);
  params.set("run", "1");
  return `${location.origin}${location.pathname}?${params}`;
}

/**
 * @param {string} filename
 * @param {string} text
 * @param {string} type
 */
export function downloadLink(filename, text, type) {
  const a = node("a", filename, { download: filename });
  a.href = URL.createObjectURL(new Blob([text], { type }));
  return a;
}
