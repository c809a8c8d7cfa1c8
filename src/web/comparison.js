// @ts-check
// Settings compared side by side: the same task and models run once per setting — zero-shot
// and k-shot (misleading demonstrations are one of the prize's causes of inverse scaling),
// float32 and f16 weights, the pipeline's truncation and keep-scored — one run after another.
// Each finished run is kept as a layer; the plot overlays the layers, a line and a verdict per
// setting. Every number is still the worker's and the wasm module's.
import { $, node, state } from "./page.js";
import { applySettings, readSettings } from "./settings.js";
/** @import { Settings } from "./settings.js" */
/** @typedef {() => Promise<unknown>} StartRun */
/** @typedef {typeof import("./task_picker.js").setTask} SetTask */
/**
 * A setting's run: its models' reports and their trend (from `PageEvaluation.report`).
 * @typedef {{label: string, settings?: Settings, reports: any[], trend: any}} Layer
 */
/**
 * Settings compared: the runs' settings (`variants`), the one running, the runs done.
 * @typedef {object} Comparison
 * @property {string} kind
 * @property {{label: string, set: Settings}[]} variants
 * @property {number} index
 * @property {Layer[]} layers
 * @property {Settings} original the settings the user had
 * @property {boolean} finished
 */

/**
 * The comparisons the page offers: the settings of each run, in order, with their labels.
 * @type {Object<string, () => Comparison["variants"]>}
 */
export const COMPARISONS = {
  shots: () => {
    const k = Number($("shots").value) || 3;
    return [{ label: "zero-shot", set: { shots: "0" } }, { label: `${k}-shot`, set: { shots: String(k) } }];
  },
  precision: () => [{ label: "float32", set: { precision: "f32" } }, { label: "f16 weights", set: { precision: "f16" } }],
  truncation: () => [{ label: "pipeline truncation", set: { truncation: "pipeline" } }, { label: "keep-scored truncation", set: { truncation: "keep-scored" } }],
};

/**
 * Starts the comparison chosen in Settings (or a plain run): `startRun` runs one setting,
 * `setTask` re-reads the task when the number of demonstrations changes.
 * @param {StartRun} startRun
 * @param {SetTask} setTask
 */
export async function startComparison(startRun, setTask) {
  const kind = $("compare").value;
  state.comparison = null;
  if (!COMPARISONS[kind]) return startRun();
  const variants = COMPARISONS[kind]();
  const original = readSettings();
  state.comparison = { kind, variants, index: 0, layers: [], original, finished: false };
  await applyVariant(setTask);
  return startRun();
}

/**
 * Sets the controls to the current variant's settings (re-reading the task for its shots).
 * @param {SetTask} setTask
 */
async function applyVariant(setTask) {
  const c = state.comparison;
  const variant = c.variants[c.index];
  applySettings(variant.set);
  if (variant.set.shots !== undefined && state.task) await setTask(state.task.name, state.task.bytes, { published: state.task.published, link: state.task.link });
}

/** What the progress area says of the comparison's current run, or null outside one. */
export function comparisonStep() {
  const c = state.comparison;
  if (!c || c.finished) return null;
  return node("div", `Comparing settings: run ${c.index + 1} of ${c.variants.length}, ${c.variants[c.index].label}`, { class: "note comparison-step" });
}

/**
 * After a run of a comparison ends: keeps it as a layer and starts the next setting; after
 * the last, puts the controls back as the user had them. Returns whether another run started.
 * @param {string | undefined} outcome
 * @param {boolean} complete
 * @param {StartRun} startRun
 * @param {SetTask} setTask
 */
export async function runEnded(outcome, complete, startRun, setTask) {
  const c = state.comparison;
  if (!c || c.finished) return false;
  if (outcome === "cancelled" || !complete) {
    c.finished = true;
    return false;
  }
  const variant = c.variants[c.index];
  c.layers.push({ label: variant.label, settings: variant.set, reports: state.reports, trend: state.trend });
  if (c.index + 1 < c.variants.length) {
    c.index++;
    await applyVariant(setTask);
    // The next run starts after this one's end has been handled.
    setTimeout(() => startRun(), 0);
    return true;
  }
  c.finished = true;
  applySettings(c.original);
  return false;
}

/** What a kept run records of the comparison it is part of (to resume it whole), or null. */
export function comparisonKept() {
  const c = state.comparison;
  return c && !c.finished ? { kind: c.kind, index: c.index, runs: c.variants.length, original: c.original } : null;
}

/**
 * The layers to plot: each finished setting, and the one running, with their trends.
 * @returns {Layer[] | null}
 */
export function comparisonLayers() {
  const c = state.comparison;
  if (!c) return null;
  const layers = [...c.layers];
  if (!c.finished && state.reports.length) layers.push({ label: c.variants[c.index].label, reports: state.reports, trend: state.trend });
  return layers.length ? layers : null;
}

/** The comparison in the JSON bundle: per setting, its settings, models and trend. */
export function comparisonBundle() {
  return state.comparison?.finished ? state.comparison.layers.map(({ label, settings, reports, trend }) => ({ label, settings, models: reports, trend })) : [];
}
