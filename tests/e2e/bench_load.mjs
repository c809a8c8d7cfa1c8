// Loading benchmark: time and peak memory to bring checkpoints from a local server with the
// Hub's URL layout into the app on WebGPU (SwiftShader here; `BACKEND=cpu` for the CPU
// fallback, `PRECISION=f16` for f16 weights), cold (empty profile: download into the cache,
// then load) and again from the cache (same profile), `REPETITIONS` times (default 3). Each
// run scores a one-example task so the model is used; the load time excludes scoring.
//
//   node tests/e2e/bench_load.mjs MODELS_DIR TASK.csv MODEL...   (after `trunk build --release`)
//
// Prints, per model and start: download+load seconds, the wasm memory before and after loading
// (linear memory only grows, so "after" is the peak while loading), the largest tensor of the
// checkpoint for comparison, the page's peak JS heap, the peak memory of all Chromium
// processes and what the model cache holds afterwards; then the medians.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { staticServer, hubServer } from "./servers.mjs";
import { BACKENDS, median, mib, runApp } from "./bench_common.mjs";

const [modelsDir, taskFile, ...models] = process.argv.slice(2);
if (!models.length) {
  console.error("usage: node tests/e2e/bench_load.mjs MODELS_DIR TASK.csv MODEL...");
  process.exit(2);
}
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const app = await staticServer(path.join(ROOT, "dist"));
const hub = await hubServer({ modelsDir: path.resolve(modelsDir), tasksDir: path.dirname(path.resolve(taskFile)), owner: "bench" });
const task = `${hub.url}/tasks/${path.basename(taskFile)}`;

/** Bytes of the largest tensor in a safetensors file (from its header). */
function largestTensor(file) {
  const fd = fs.openSync(file, "r");
  const len = Buffer.alloc(8);
  fs.readSync(fd, len, 0, 8, 0);
  const header = Buffer.alloc(Number(len.readBigUInt64LE()));
  fs.readSync(fd, header, 0, header.length, 8);
  fs.closeSync(fd);
  const tensors = Object.entries(JSON.parse(header)).filter(([k]) => k !== "__metadata__");
  return Math.max(...tensors.map(([, t]) => t.data_offsets[1] - t.data_offsets[0]));
}

let failed = false;
const backend = process.env.BACKEND ?? "webgpu";
const precision = process.env.PRECISION ?? "f32";
if (!BACKENDS[backend] || !["f32", "f16"].includes(precision)) {
  console.error("BACKEND must be webgpu or cpu, PRECISION f32 or f16");
  process.exit(2);
}
const [where, flags] = BACKENDS[backend];
const settings = `${backend === "cpu" ? "&backend=cpu" : ""}&precision=${precision}`;
// Repetitions interleave the models; each repetition starts from an empty profile.
const repetitions = Number(process.env.REPETITIONS ?? 3);
const runs = new Map(); // label → measurements of each repetition
for (let rep = 1; rep <= repetitions; rep++) {
  for (const model of models) {
    const file = path.join(modelsDir, model, "model.safetensors");
    const size = fs.statSync(file).size;
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "invscale-bench-profile-"));
    const url = `${app.url}/?task=${encodeURIComponent(task)}&models=bench/${model}&hub=${encodeURIComponent(hub.url)}${settings}&run=1`;
    for (const [i, start] of ["cold", "from cache"].entries()) {
      const label = `${model} ${start} (${where}, ${precision} weights; ${mib(size)} file, largest tensor ${mib(largestTensor(file))})`;
      // Another seed is another run to the page, so the second start loads and scores again
      // instead of reusing the example the first one kept (a classification ignores the seed).
      const run = await runApp({ profile, flags, url: `${url}&seed=${i}`, label });
      if (run.state !== "done") {
        console.log(`repetition ${rep}, ${label}: ${run.state}: ${run.error}`);
        failed = true;
        continue;
      }
      const t = run.bundle.models[0].timing;
      const m = { load: t.load_seconds, before: t.wasm_memory_before_load_bytes, after: t.wasm_memory_bytes, heap: run.peakHeap, rss: run.peakRss, cache: run.cacheBytes, size };
      runs.set(label, [...(runs.get(label) ?? []), m]);
      console.log(`repetition ${rep}, ${describe(label, m)}`);
    }
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
for (const [label, ms] of runs) {
  const mid = (key) => median(ms.map((m) => m[key]));
  console.log(`median of ${ms.length}, ${describe(label, { load: mid("load"), before: mid("before"), after: mid("after"), heap: mid("heap"), rss: mid("rss"), cache: mid("cache"), size: ms[0].size })}`);
}

function describe(label, m) {
  return `${label}: download+load ${m.load.toFixed(1)} s (${(m.size / 2 ** 20 / m.load).toFixed(0)} MiB/s); ` +
    `wasm memory ${mib(m.before)} before, ${mib(m.after)} after loading; page JS heap peak ${mib(m.heap)}; ` +
    `Chromium RSS peak ${mib(m.rss)}; model cache ${mib(m.cache)}`;
}
app.close();
hub.close();
process.exit(failed ? 1 : 0);
