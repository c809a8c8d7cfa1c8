// @ts-check
// The workers that score a run: one on WebGPU; on the CPU several, each scoring a share of
// every model's examples. When the GPU fails, the job starts again in new workers from the
// examples kept, on a new WebGPU device and then on the CPU. What the workers say goes to the
// run's `onEvent`; a worker that stops ends the run through its `finish`.
import { $, node, showError, state } from "./page.js";
import { startReports } from "./run_reports.js";
/** @import { Run } from "./page.js" */
/** @import { JobMessage } from "./worker.js" */

/**
 * Starts the run's job in new workers, each scoring a share of every model's examples; they
 * all start from the examples scored so far (kept from before, or by workers replaced).
 * @param {Run} run
 */
export async function launchWorkers(run) {
  const count = await workerCount(run);
  if (state.run !== run || run.finishing) return; // cancelled meanwhile
  const earlier = run.results.map((results) => [...results.values()]);
  Object.assign(run, {
    workers: [],
    finishedWorkers: 0,
    // Per model: the examples that came from before (dropped if the workers discard them),
    // what each worker said when its share was scored, and whether the reports have it.
    fromBefore: earlier.map((results) => new Set(results.map((r) => r.index))),
    shares: run.models.map(() => []),
    assembled: run.models.map(() => false),
  });
  startReports(run);
  const sources = run.models.map((m) => m.source);
  for (let index = 0; index < count; index++) {
    const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    run.workers.push(worker);
    // Messages of a worker that was replaced (after a GPU failure) are not this run's any more.
    worker.onmessage = (e) => run.workers.includes(worker) && run.hooks.onEvent(e.data);
    worker.onerror = (e) => {
      if (!run.workers.includes(worker) || recover(run, `the worker stopped: ${e.message ?? "unknown error"}`)) return;
      showError(`the worker stopped: ${e.message ?? "unknown error"}`);
      run.errors++;
      run.hooks.finish();
    };
    /** @type {JobMessage} */
    const job = { request: run.request, share: { index, count }, task: run.bytes, sources, earlier };
    worker.postMessage(job);
  }
}

/**
 * How many workers score a run: one on WebGPU (the GPU is shared anyway) and with f16 weights
 * (whose cached copy one reader makes); on the CPU, one per core, as far as memory allows
 * each its own copy of the largest model, or as the Workers setting says.
 * @param {Run} run
 */
export async function workerCount(run) {
  if (run.request.precision === "f16" || !(await scoresOnCpu(run.request.backend))) return 1;
  const chosen = run.settings.workers;
  if (chosen !== "auto") return Number(chosen);
  const largest = Math.max(...run.models.map((m) => m.bytes ?? Infinity));
  // A worker holds the weights, the tokenizer and the activations of a pass; the page may
  // take half of the memory the browser reports (Chromium says at most 8 GB).
  const perWorker = largest * 1.25 + 200e6;
  const memory = ((navigator.deviceMemory ?? 4) * 2 ** 30) / 2;
  return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 8, Math.floor(memory / perWorker)));
}

/**
 * Whether a run with this backend setting scores on the CPU: chosen, or no WebGPU adapter.
 * @param {string} backend
 */
async function scoresOnCpu(backend) {
  if (backend === "cpu") return true;
  try {
    return !(await navigator.gpu?.requestAdapter());
  } catch {
    return true;
  }
}

/**
 * After the GPU failed (lost device, uncaught GPU error, the scorer trapping on WebGPU):
 * restarts the job, which restores every example kept so far and scores only the rest — on a
 * new WebGPU device the first time, on the CPU the second. False when it will not (not on
 * WebGPU, or already on the CPU): the failure is then the run's.
 * @param {Run} run
 * @param {string} reason
 */
export function recover(run, reason) {
  if (run.backend !== "webgpu" || run.recoveries >= 2) return false;
  run.recoveries++;
  run.workers.forEach((w) => w.terminate());
  run.workers = [];
  const onCpu = run.recoveries === 2;
  if (onCpu) run.request = { ...run.request, backend: "cpu" };
  const where = onCpu ? "on the CPU" : "on a new WebGPU device";
  $("progress").append(node("div", `The GPU failed (${reason}). The run goes on ${where} from the last example kept.`, { class: "note gpu-recovery" }));
  state.reports = [];
  state.partials = [];
  state.trend = null;
  state.trends = null;
  state.examples = null;
  state.focusModel = null;
  run.errors = 0;
  run.backend = null;
  for (const row of run.rows) Object.assign(row, { finished: false, restored: 0, started: 0 });
  launchWorkers(run).catch((e) => (showError(e.message ?? String(e)), run.hooks.finish()));
  return true;
}
