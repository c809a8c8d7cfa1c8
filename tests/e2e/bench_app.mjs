// Times the web app in headless Chromium: one model over one task, on WebGPU (SwiftShader
// here) and on the CPU fallback, from a local server with the Hub's URL layout. Prints load
// and scoring times, examples/s, the wasm memory after loading (its peak: it never shrinks),
// the page's peak JS heap and the peak memory of all Chromium processes.
//
//   node tests/e2e/bench_app.mjs MODELS_DIR MODEL TASK.csv [webgpu,cpu]   (after `trunk build --release`)
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { staticServer, hubServer } from "./servers.mjs";
import { BACKENDS, mib, runApp } from "./bench_common.mjs";

const [modelsDir, model, taskFile, backends = "webgpu,cpu"] = process.argv.slice(2);
if (!taskFile) {
  console.error("usage: node tests/e2e/bench_app.mjs MODELS_DIR MODEL TASK.csv");
  process.exit(2);
}
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const app = await staticServer(path.join(ROOT, "dist"));
const hub = await hubServer({ modelsDir: path.resolve(modelsDir), tasksDir: path.dirname(path.resolve(taskFile)), owner: "bench" });
const task = `${hub.url}/tasks/${path.basename(taskFile)}`;

for (const [label, flags] of backends.split(",").map((b) => BACKENDS[b])) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "invscale-bench-profile-"));
  const url = `${app.url}/?task=${encodeURIComponent(task)}&models=bench/${model}&hub=${encodeURIComponent(hub.url)}&run=1`;
  const run = await runApp({ profile, flags, url, label });
  if (run.state !== "done") {
    console.log(`${label}: ${run.state}: ${run.error}`);
  } else {
    const m = run.bundle.models[0];
    const t = m.timing;
    console.log(
      `${label} (${run.bundle.backend}): ${m.examples} examples in ${t.score_seconds.toFixed(1)} s = ${(m.examples / t.score_seconds).toFixed(3)} examples/s; ` +
        `download+load ${t.load_seconds.toFixed(1)} s; wasm memory ${mib(t.wasm_memory_bytes)}; ` +
        `page JS heap peak ${mib(run.peakHeap)}; Chromium RSS peak ${mib(run.peakRss)}; mean loss ${m.value.mean.toFixed(6)}`,
    );
  }
  fs.rmSync(profile, { recursive: true, force: true });
}
app.close();
hub.close();
