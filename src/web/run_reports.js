// @ts-check
// The reports of a run, put together by the wasm module from what the workers scored: the run
// keeps one `PageEvaluation` (the task read once), each model is added once all its workers
// are done, and the reports, CSVs and trends are read back as models finish; at the end, the
// models cut short, marked partial.
import { state } from "./page.js";
import { renderResults } from "./results.js";
/** @import { Run } from "./page.js" */

/**
 * A new evaluation for the run's models, none added yet (workers start, or start again).
 * @param {Run} run
 */
export function startReports(run) {
  run.evaluation?.free();
  run.evaluation = new state.wasm.PageEvaluation(run.request, run.bytes);
  run.added = [];
}

/**
 * Adds the models every worker has scored (throws, adding none of it, for a model whose
 * results do not fit the task), then shows the reports (and CSVs) and trends of all added.
 * @param {Run} run
 */
export function putReportsTogether(run) {
  for (const i of run.models.keys()) {
    if (!run.assembled[i] || run.added.includes(i)) continue;
    run.evaluation.add({ ...scoredModel(run, i), results: [...run.results[i].values()] });
    run.added.push(i);
  }
  const { models, examples, ...trends } = run.evaluation.report();
  const rows = run.added.map((i) => run.rows[i]);
  state.reports = models.map(({ report }, j) => ({ ...report, family: rows[j].family ?? null, timing: rows[j].timing }));
  state.csvs = Object.fromEntries(models.map(({ report, csv }) => [report.name, csv]));
  state.trend = trends.trend;
  state.trends = trends;
  state.examples = examples;
  renderResults();
}

/**
 * Reports of the models the run did not finish, from the examples they scored, marked partial.
 * @param {Run} run
 */
export async function partialReports(run) {
  const reports = [];
  for (const [i, m] of run.models.entries()) {
    if (!run.results || !run.evaluation || run.assembled?.[i]) continue;
    const results = [...run.results[i].values()];
    const parameters = run.rows[i].parameters ?? state.registry.find((r) => r.repo === m.source.repo)?.parameters;
    if (results.length === 0 || parameters == null) continue;
    const model = { ...scoredModel(run, i), parameters, results };
    const { report, csv } = run.evaluation.partial(model);
    reports.push({ ...report, family: run.rows[i].family ?? null, csv });
  }
  return reports;
}

/**
 * Model `i` of the run as the report wants it: name, size and where it came from.
 * @param {Run} run
 * @param {number} i
 */
function scoredModel(run, i) {
  const m = run.models[i];
  const hub = m.source.files ? {} : { repo: m.source.repo, revision: m.source.revision };
  return { name: m.name, parameters: run.rows[i].parameters, source: { family: run.rows[i].family ?? null, ...hub } };
}
