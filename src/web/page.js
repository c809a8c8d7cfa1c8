// What every part of the page shares: its state, element lookup, the wasm module (replaced
// after a trap), fetching a file, and the small helpers that write numbers and insert text
// (never HTML).

export const $ = (id) => document.getElementById(id);
export const PAGE_SIZE = 20;
/** The page's state: every field any part sets is declared here. */
export const state = {
  /** The wasm module's exports (a fresh instance after a trap, see task_picker.js). */
  wasm: null,
  /** While the wasm instance is being replaced: the promise of the new one. */
  wasmReplacing: null,
  /** `{name, bytes, view, published?}`: the task in the picker (`view` from `parse_task`). */
  task: null,
  /** The task of the run whose results are shown. */
  shown: null,
  /** `{name, family, repo, revision, parameters, bytes, extra}`: the Hub models offered. */
  registry: [],
  /** `{id, name, training_steps?}` of each family the registry lists, in its order. */
  families: [],
  /** `{name, files, weights, bytes}`: local model folders picked. */
  locals: [],
  /** The built-in tasks (`www/tasks/index.json`). */
  builtins: [],
  /** The prize's published tasks on the Hub (`www/tasks/prize.json`). */
  prizeTasks: [],
  /** Published results to compare with (`published.json`). */
  published: null,
  /** The run in progress or last run: request, models, worker, per-model rows, recoveries. */
  run: null,
  /** Finished models' reports, partial models' reports, each model's CSV, the trend across
   * sizes, and every trend (`{trend, family_trends, training_trends}`). */
  reports: [],
  partials: [],
  csvs: {},
  trend: null,
  trends: null,
  /** How each example moved from the smallest model to the largest (`PageEvaluation.report`'s `examples`). */
  examples: null,
  /** The model whose column alone the examples table shows (a point clicked), or null. */
  focusModel: null,
  /** Settings compared side by side (`comparison.js`): the runs' layers, or null. */
  comparison: null,
  /** The page of the examples table shown. */
  page: 0,
};

export function setState(s) {
  document.body.dataset.state = s;
}

export function showError(message) {
  const line = document.createElement("div");
  line.textContent = message;
  $("error").append(line);
}

export function node(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** A number as the tables show it (a dash where there is none). */
export function fmt(x, digits = 4) {
  return x == null || Number.isNaN(x) ? "–" : Number(x).toFixed(digits);
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

/** The bytes at `url`; an error says why not (the page's policy refused it, HTTP status). */
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

/** An http(s) URL from a user or URL parameter; anything else (javascript:, data:) is refused. */
export function httpUrl(value) {
  const url = new URL(value, location.href);
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`only http and https URLs are allowed, not ${url.protocol}`);
  return url.href;
}

export function wasmBindings() {
  if (window.wasmBindings) return Promise.resolve(window.wasmBindings);
  return new Promise((resolve) => addEventListener("TrunkApplicationStarted", () => resolve(window.wasmBindings), { once: true }));
}
