// The Web Worker that scores: loads the wasm module and runs one job per message, posting
// the job's JSON events back to the page. The page terminates the worker to cancel.
import init, { run_job } from "./invscale-web.js";
import { ModelFiles } from "./files.js";

const ready = init();

self.onmessage = async ({ data }) => {
  await ready;
  const post = (json) => self.postMessage(json);
  const files = new ModelFiles(
    data.sources,
    (p) => post(JSON.stringify({ event: "download", ...p })),
    (n) => post(JSON.stringify({ event: "notice", ...n })),
  );
  await run_job(data.request, data.task, files, post);
};
