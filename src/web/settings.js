// @ts-check
// The page's settings, each declared once: its control, its URL parameter, its field in the
// worker's request, and whether it changes the numbers (and so the key the results are kept
// under). Reading the URL, the request, the run link, resuming and the exports all follow
// from this table; a run keeps a snapshot of it, so what it exports is its own.
import { $ } from "./page.js";

/**
 * The controls' values by control id, as the controls hold them.
 * @typedef {Object<string, string>} Settings
 */
/** @import { Backend, JobRequest, Precision, TaskType, Truncation } from "./invscale-web.js" */
/**
 * A setting's control: a select, or an input for a count.
 * @typedef {HTMLSelectElement | HTMLInputElement} Control
 */

/**
 * `id`: the control; `param`: its URL parameter; `kind`: `choice` (one of the control's
 * options) or `count` (a whole number); `request`: its field in the worker's request;
 * `numbers`: it changes what is scored, so the results are kept under it (in this order;
 * `keyDefault`: a value left out of that key, so runs kept before the setting existed keep
 * theirs); `linked`: a run link carries it (the workers setting is the machine's, not the run's).
 */
export const SETTINGS = [
  { id: "task-type", param: "type", kind: "choice", request: "task_type", numbers: true, linked: true },
  { id: "truncation", param: "truncation", kind: "choice", request: "truncation", numbers: true, linked: true },
  { id: "shots", param: "shots", kind: "count", request: "few_shot", numbers: true, linked: true },
  { id: "seed", param: "seed", kind: "count", request: "seed", numbers: true, linked: true },
  { id: "precision", param: "precision", kind: "choice", request: "precision", numbers: true, keyDefault: "f32", linked: true },
  { id: "backend", param: "backend", kind: "choice", request: "backend", numbers: false, linked: true },
  { id: "workers", param: "workers", kind: "choice", request: null, numbers: false, linked: false },
  { id: "compare", param: "compare", kind: "choice", request: null, numbers: false, linked: true },
];

/**
 * The controls' values now, by control id: what a run starts with.
 * @returns {Settings}
 */
export function readSettings() {
  return Object.fromEntries(SETTINGS.map((s) => [s.id, /** @type {Control} */ ($(s.id)).value]));
}

/**
 * Sets the controls to `values` (by control id); ids it lacks keep theirs.
 * @param {Settings} values
 */
export function applySettings(values) {
  for (const s of SETTINGS) if (values[s.id] !== undefined) /** @type {Control} */ ($(s.id)).value = values[s.id];
}

/**
 * The settings a URL names, checked against each control; throws naming a bad one.
 * @param {URLSearchParams} params
 * @returns {Settings}
 */
export function settingsFromUrl(params) {
  /** @type {Settings} */
  const values = {};
  for (const s of SETTINGS) {
    const value = params.get(s.param);
    if (value === null) continue;
    if (s.kind === "choice" && ![.../** @type {HTMLSelectElement} */ ($(s.id)).options].some((o) => o.value === value)) throw new Error(`unknown ${s.param} \`${value}\` in the page's URL`);
    if (s.kind === "count" && !/^\d+$/.test(value)) throw new Error(`${s.param} in the page's URL must be a whole number, not \`${value}\``);
    values[s.id] = value;
  }
  return values;
}

/**
 * Puts the linked settings of `values` that are set into `params`.
 * @param {Settings} values
 * @param {URLSearchParams} params
 */
export function settingsToUrl(values, params) {
  for (const s of SETTINGS) if (s.linked && values[s.id]) params.set(s.param, values[s.id]);
}

/**
 * The few-shot settings of `values`, or null for zero-shot.
 * @param {Settings} values
 */
export function fewShotOf(values) {
  const shots = Number(values.shots) || 0;
  return shots > 0 ? { shots, seed: Number(values.seed) || 0 } : null;
}

/**
 * The worker's request (`protocol.rs` `JobRequest`) for `values` and the models' names.
 * @param {Settings} values
 * @param {string[]} names
 * @returns {JobRequest}
 */
export function jobRequest(values, names) {
  // Each control's options are the request's values (the wasm module checks them again).
  return {
    task_type: /** @type {TaskType | null} */ (values["task-type"] || null),
    truncation: /** @type {Truncation} */ (values.truncation),
    backend: /** @type {Backend} */ (values.backend),
    precision: /** @type {Precision} */ (values.precision),
    few_shot: fewShotOf(values),
    seed: Number(values.seed) || 0,
    models: names.map((name) => ({ name })),
  };
}

/**
 * What of a request changes the numbers: the key its results are kept under (`run_store.js`).
 * @param {JobRequest} request
 */
export function numbersOf(request) {
  return SETTINGS.filter((s) => s.numbers && (s.keyDefault === undefined || request[s.request] !== s.keyDefault)).map((s) => request[s.request] ?? null);
}
