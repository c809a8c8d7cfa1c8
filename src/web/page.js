// @ts-check
// What every part of the page shares: its state, element lookup, the wasm module (replaced
// after a trap), fetching a file, and the small helpers that write numbers and insert text
// (never HTML).

/**
 * The controls whose own properties (`value`, `disabled`, …) the page reads or sets, by id, as
 * `www/index.html` declares them: `$` gives each its element's type.
 * @typedef {{
 *   "builtin-task": HTMLSelectElement, cancel: HTMLButtonElement, compare: HTMLSelectElement,
 *   "editor-rows": HTMLTextAreaElement, "editor-template": HTMLTextAreaElement,
 *   "editor-use": HTMLButtonElement, "example-class": HTMLSelectElement,
 *   "example-order": HTMLSelectElement, hub: HTMLInputElement, "hub-task": HTMLInputElement,
 *   "page-next": HTMLButtonElement, "page-prev": HTMLButtonElement,
 *   "published-task": HTMLSelectElement, run: HTMLButtonElement, shots: HTMLInputElement,
 *   "task-paste": HTMLTextAreaElement, "task-type": HTMLSelectElement,
 *   "training-steps": HTMLInputElement, truncation: HTMLSelectElement,
 * }} Controls
 */
/**
 * @template {keyof Controls} Id
 * @overload
 * @param {Id} id
 * @returns {Controls[Id]}
 */
/**
 * @overload
 * @param {string} id
 * @returns {HTMLElement}
 */
/** @param {string} id */
export function $(id) {
  return document.getElementById(id);
}

export const PAGE_SIZE = 20;

/** @import { ModelSource } from "./files.js" */
/** @import { Settings } from "./settings.js" */
/** @import { ExampleResult, JobRequest, TaskView, Timing } from "./invscale-web.js" */
/** @import { WorkerEvent } from "./run_events.js" */
/** @typedef {typeof import("./invscale-web.js")} Wasm */
/**
 * A task read by the page, with what travels with it (`setTask`'s `extra`): the published
 * results it reproduces (published.json's entry, as fetched) and the URL parameters that load
 * it again.
 * @typedef {{name: string, bytes: Uint8Array<ArrayBuffer>, view: TaskView, published?: any, link?: Object<string, string>}} Task
 */
/**
 * A ticked model (`selectedModels`): `bytes` its files' size when known.
 * @typedef {{name: string, source: ModelSource, bytes: number | null}} Model
 */
/**
 * A local model folder picked: its files by name, the weights' file, the weights' size.
 * @typedef {{name: string, files: Object<string, File>, weights: string, bytes: number}} LocalModel
 */
/**
 * A model's row in a run's progress, and what its workers said of it.
 * @typedef {object} ProgressRow
 * @property {HTMLDivElement} element
 * @property {HTMLProgressElement} bar
 * @property {HTMLSpanElement} label
 * @property {number} started when the first worker loaded it (`performance.now()`), else 0
 * @property {number} kept examples written to the browser's storage
 * @property {number} [restored] examples kept from an earlier run
 * @property {boolean} [finished]
 * @property {number} [parameters]
 * @property {string | null} [family]
 * @property {number} [wasmMemory] the most wasm memory a worker reported
 * @property {any} [timing] its workers' timings combined (their JSON, for the report)
 */
/**
 * A run: what `startRun` gives it, then what the worker pool, the events and the reports add.
 * @typedef {object} Run
 * @property {Model[]} models
 * @property {ProgressRow[]} rows
 * @property {Settings} settings the controls as the run started
 * @property {string} hub
 * @property {{original: Settings} | null} comparison the settings a comparison started from
 * @property {{onEvent: (ev: WorkerEvent) => void, finish: (outcome?: string) => void}} hooks
 * @property {string | null} backend what the workers said they score on
 * @property {number} errors
 * @property {number} recoveries
 * @property {number} total the task's examples
 * @property {JobRequest} [request]
 * @property {{run: string | null, models: string[]}} [store] the keys its results are kept under
 * @property {Uint8Array<ArrayBuffer>} [bytes] the task file
 * @property {Map<number, ExampleResult>[]} [results] per model, its results (`example` events') by example index
 * @property {Worker[]} [workers]
 * @property {number} [finishedWorkers]
 * @property {Set<number>[]} [fromBefore] per model, the examples kept from before
 * @property {Timing[][]} [shares] per model, each worker's timing once its share was scored
 * @property {boolean[]} [assembled] per model, whether the reports have it
 * @property {import("./invscale-web.js").PageEvaluation | null} [evaluation]
 * @property {number[]} [added] the models added to `evaluation`, in order
 * @property {boolean} [finishing]
 * @property {Set<string>} [errorsShown]
 * @property {boolean} [keepFailed]
 * @property {Promise<void>} [writes] settles once every result kept so far is written
 */

/** The page's state: every field any part sets is declared here. */
export const state = {
  /**
   * The wasm module's exports (a fresh instance after a trap, see task_picker.js).
   * @type {Wasm | null}
   */
  wasm: null,
  /**
   * While the wasm instance is being replaced: the promise of the new one.
   * @type {Promise<void> | null}
   */
  wasmReplacing: null,
  /**
   * The task in the picker.
   * @type {Task | null}
   */
  task: null,
  /**
   * The task of the run whose results are shown.
   * @type {Task | null}
   */
  shown: null,
  /** `{name, family, repo, revision, parameters, bytes, extra}`: the Hub models offered. */
  registry: [],
  /** `{id, name, training_steps?}` of each family the registry lists, in its order. */
  families: [],
  /**
   * Local model folders picked.
   * @type {LocalModel[]}
   */
  locals: [],
  /** The built-in tasks (`www/tasks/index.json`). */
  builtins: [],
  /** The prize's published tasks on the Hub (`www/tasks/prize.json`). */
  prizeTasks: [],
  /** Published results to compare with (`published.json`). */
  published: null,
  /**
   * The run in progress or last run: request, models, worker, per-model rows, recoveries.
   * @type {Run | null}
   */
  run: null,
  /** Finished models' reports, partial models' reports, each model's CSV, the trend across
   * sizes, and every trend (`{trend, family_trends, training_trends}`). */
  reports: [],
  partials: [],
  /** @type {Object<string, string>} */
  csvs: {},
  trend: null,
  trends: null,
  /** How each example moved from the smallest model to the largest (`PageEvaluation.report`'s `examples`). */
  examples: null,
  /**
   * The model whose column alone the examples table shows (a point clicked), or null.
   * @type {string | null}
   */
  focusModel: null,
  /**
   * Settings compared side by side (`comparison.js`): the runs' layers, or null.
   * @type {import("./comparison.js").Comparison | null}
   */
  comparison: null,
  /** The page of the examples table shown. */
  page: 0,
};

/** @param {string} s */
export function setState(s) {
  document.body.dataset.state = s;
}

/** @param {string} message */
export function showError(message) {
  const line = document.createElement("div");
  line.textContent = message;
  $("error").append(line);
}

/**
 * A new element holding `text` (none when null or undefined) as text.
 * @template {keyof HTMLElementTagNameMap} Tag
 * @param {Tag} tag
 * @param {unknown} [text]
 * @param {Object<string, string>} [attrs]
 * @returns {HTMLElementTagNameMap[Tag]}
 */
export function node(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** Finished models, then those cut short (marked partial). */
export function shownReports() {
  return [...state.reports, ...(state.partials ?? [])];
}

export function modelLabel(r) {
  return r.partial ? `${r.name} (partial: ${r.partial.scored} of ${r.partial.examples} examples)` : r.name;
}

/** URLs the page's Content Security Policy refused to connect to. */
const refusedByPolicy = new Set();
addEventListener("securitypolicyviolation", (e) => e.effectiveDirective === "connect-src" && refusedByPolicy.add(e.blockedURI));

/**
 * The bytes at `url`; an error says why not (the page's policy refused it, HTTP status).
 * @param {string} url
 */
export async function fetchBytes(url) {
  const response = await fetch(url).catch(async (e) => {
    await new Promise((resolve) => setTimeout(resolve, 50)); // the violation event comes apart
    if (refusedByPolicy.has(new URL(url, location.href).href)) {
      throw new Error(`cannot load ${url}: this page connects only to the Hub, GitHub's raw files and the machine it runs on (its Content Security Policy); load the file from your disk instead`);
    }
    throw new Error(`cannot load ${url}: ${e.message}`);
  });
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * An http(s) URL from a user or URL parameter; anything else (javascript:, data:) is refused.
 * @param {string} value
 */
export function httpUrl(value) {
  const url = new URL(value, location.href);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`only http and https URLs are allowed, not ${url.protocol}`);
  return url.href;
}

/** @returns {Promise<Wasm>} */
export function wasmBindings() {
  if (window.wasmBindings) return Promise.resolve(window.wasmBindings);
  return new Promise((resolve) => addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true }));
}
