// The Web Worker that scores: loads the wasm module and runs one job per message, posting
// the job's JSON events back to the page. The page terminates the worker to cancel.
import init, { run_job } from "./invscale-web.js";
import { ModelFiles } from "./files.js";

const ready = init();

self.onmessage = async ({ data }) => {
  const post = (json) => self.postMessage(json);
  try {
    await ready;
    const files = new ModelFiles(
      data.sources,
      (p) => post(JSON.stringify({ event: "download", ...p })),
      (n) => post(JSON.stringify({ event: "notice", ...n })),
    );
    await run_job(data.request, data.task, files, post);
  } catch (e) {
    // The module failed to load or trapped (a Rust panic, an out-of-memory): the job cannot
    // go on, but the page must hear of it rather than wait forever.
    post(JSON.stringify({ event: "error", model: null, message: `the scorer stopped: ${e?.message ?? e}` }));
    post(JSON.stringify({ event: "finished" }));
  }
};
