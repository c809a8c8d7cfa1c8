// @ts-check
// The Web Worker that scores: loads the wasm module and runs one job per message (its share of
// the task: the page may start several), posting the job's events back to the page. A
// job starts from the examples an interrupted run of it kept, which the page reads and gives
// every worker alike; the page keeps each `example` event, since this worker's event loop is
// busy while it scores. The page terminates the worker to cancel.
import init, { run_job, hub_file_info, hub_model_file_url, DownloadCheck, Sha256Stream, HalfPrecisionCopy } from "./invscale-web.js";
import { ModelFiles } from "./files.js";
/** @import { ModelSource } from "./files.js" */
/** @import { Event, JobRequest, KeptResults, Share } from "./invscale-web.js" */

/**
 * The page's message to a worker (`worker_pool.js`): the job's request, the share of the task
 * this worker scores, the task file, each model's source, and per model the results an
 * interrupted run kept.
 * @typedef {{request: JobRequest, share: Share, task: Uint8Array, sources: ModelSource[], earlier: KeptResults}} JobMessage
 */
/**
 * The events this worker adds to the job's: a download's progress and notices, and the
 * failures the job cannot report itself.
 * @typedef {(
 *   {event: "download", model: number, file: string, loaded: number | null, total: number | null, cached: boolean} |
 *   {event: "notice", model: number, message: string} |
 *   {event: "device_lost", model: null, message: string} |
 *   {event: "gpu_error", model: null, message: string} |
 *   {event: "trap", model: null, message: string}
 * )} ScorerEvent
 */

const ready = init();

/**
 * This module runs in a Web Worker, whose global scope the DOM's types (the page's) do not
 * describe: what of it this module uses.
 * @typedef {{postMessage(message: Event | ScorerEvent): void, onmessage: ((event: MessageEvent<JobMessage>) => void) | null}} WorkerScope
 */
const scope = /** @type {WorkerScope} */ (/** @type {unknown} */ (self));

// The WebGPU devices the scorer creates are watched: a lost device (a driver reset, the GPU
// process gone, the tab's GPU memory reclaimed) or an error nobody caught (out of memory) is
// told to the page, which restarts the job from the examples kept so far.
if (globalThis.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  /**
   * @this {GPUAdapter}
   * @param {Parameters<GPUAdapter["requestDevice"]>} args
   */
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    /**
     * @param {"device_lost" | "gpu_error"} event
     * @param {string} message
     */
    const tell = (event, message) => scope.postMessage({ event, model: null, message });
    device.lost.then((info) => tell("device_lost", info.message || `reason: ${info.reason}`));
    device.addEventListener("uncapturederror", (e) => tell("gpu_error", `${e.error?.constructor?.name ?? "GPU error"}: ${e.error?.message}`));
    return device;
  };
}

scope.onmessage = async ({ data }) => {
  /** @param {Event | ScorerEvent} event */
  const post = (event) => scope.postMessage(event);
  try {
    await ready;
    const files = new ModelFiles(data.sources, {
      readListing: hub_file_info,
      fileUrl: (source, file) => hub_model_file_url(source.hub, source.repo, source.revision, file),
      onProgress: (p) => post({ event: "download", ...p }),
      onNotice: (n) => post({ event: "notice", ...n }),
      newHasher: () => new Sha256Stream(),
      newCheck: (sha256) => new DownloadCheck(sha256),
      newHalfCopy: data.request.precision === "f16" ? () => new HalfPrecisionCopy() : null,
    });
    await run_job(data.request, data.share, data.task, files, data.earlier, post);
  } catch (e) {
    // The module failed to load or trapped (a Rust panic, an out-of-memory): the job cannot
    // go on, but the page must hear of it rather than wait forever.
    post({ event: "trap", model: null, message: `the scorer stopped: ${e?.message ?? e}` });
    post({ event: "finished" });
  }
};
