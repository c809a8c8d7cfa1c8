// The Web Worker that scores: loads the wasm module and runs one job per message (its share of
// the task: the page may start several), posting the job's JSON events back to the page. A
// job starts from the examples an interrupted run of it kept, which the page reads and gives
// every worker alike; the page keeps each `example` event, since this worker's event loop is
// busy while it scores. The page terminates the worker to cancel.
import init, { run_job, hub_file_info, hub_model_file_url, DownloadCheck, Sha256Stream, HalfPrecisionCopy } from "./invscale-web.js";
import { ModelFiles } from "./files.js";

const ready = init();

// The WebGPU devices the scorer creates are watched: a lost device (a driver reset, the GPU
// process gone, the tab's GPU memory reclaimed) or an error nobody caught (out of memory) is
// told to the page, which restarts the job from the examples kept so far.
if (globalThis.GPUAdapter) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    const tell = (event, message) => self.postMessage(JSON.stringify({ event, model: null, message }));
    device.lost.then((info) => tell("device_lost", info.message || `reason: ${info.reason}`));
    device.addEventListener("uncapturederror", (e) => tell("gpu_error", `${e.error?.constructor?.name ?? "GPU error"}: ${e.error?.message}`));
    return device;
  };
}

self.onmessage = async ({ data }) => {
  const post = (json) => self.postMessage(json);
  try {
    await ready;
    const files = new ModelFiles(data.sources, {
      readListing: hub_file_info,
      fileUrl: (source, file) => hub_model_file_url(source.hub, source.repo, source.revision, file),
      onProgress: (p) => post(JSON.stringify({ event: "download", ...p })),
      onNotice: (n) => post(JSON.stringify({ event: "notice", ...n })),
      newHasher: () => new Sha256Stream(),
      newCheck: (sha256) => new DownloadCheck(sha256),
      newHalfCopy: JSON.parse(data.request).precision === "f16" ? () => new HalfPrecisionCopy() : null,
    });
    await run_job(data.request, JSON.stringify(data.share), data.task, files, JSON.stringify(data.earlier), post);
  } catch (e) {
    // The module failed to load or trapped (a Rust panic, an out-of-memory): the job cannot
    // go on, but the page must hear of it rather than wait forever.
    post(JSON.stringify({ event: "trap", model: null, message: `the scorer stopped: ${e?.message ?? e}` }));
    post(JSON.stringify({ event: "finished" }));
  }
};
