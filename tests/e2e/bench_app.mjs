// Times the web app in headless Chromium against transformers.js in the same browser: one
// model over one classification task, on WebGPU (SwiftShader here; transformers.js on WebGPU)
// and on the CPU fallback (transformers.js on its WASM backend), each from a fresh profile,
// the app's model from a local server with the Hub's URL layout. Repetitions interleave the
// two; prints each run, the medians of examples/s (scoring only; loading is printed apart),
// the ratio app / transformers.js and how far their class log-probs differ.
//
//   node tests/e2e/bench_app.mjs MODELS_DIR MODEL TASK.csv [BACKENDS=webgpu,cpu] [REPETITIONS=3] [ONNX_DIR TASK.json]
//
// Without ONNX_DIR (scripts/export_onnx.py's output for MODEL) and TASK.json (the task's
// examples as [{prompt, classes}]) only the app runs. Run after `trunk build --release` and
// `npm ci` in tests/e2e/transformersjs.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { staticServer, hubServer } from "./servers.mjs";
import { BACKENDS, median, mib, runApp, runTransformersJs } from "./bench_common.mjs";

const [modelsDir, model, taskFile, backends = "webgpu,cpu", repetitions = "3", onnxDir, examplesFile] = process.argv.slice(2);
if (!taskFile) {
  console.error("usage: node tests/e2e/bench_app.mjs MODELS_DIR MODEL TASK.csv [BACKENDS] [REPETITIONS] [ONNX_DIR TASK.json]");
  process.exit(2);
}
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const app = await staticServer(path.join(ROOT, "dist"));
const hub = await hubServer({ modelsDir: path.resolve(modelsDir), tasksDir: path.dirname(path.resolve(taskFile)), owner: "bench" });
const task = `${hub.url}/tasks/${path.basename(taskFile)}`;
// APP_QUERY adds settings (e.g. `workers=1`).
const appUrl = `${app.url}/?task=${encodeURIComponent(task)}&models=bench/${model}&hub=${encodeURIComponent(hub.url)}&run=1${process.env.APP_QUERY ? `&${process.env.APP_QUERY}` : ""}`;

// transformers.js's site: its dist/, onnxruntime-web's dist/, the ONNX model and score.mjs.
let site = null, examples = null;
if (onnxDir) {
  const modules = path.join(ROOT, "tests/e2e/transformersjs/node_modules");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "invscale-bench-tjs-"));
  fs.symlinkSync(path.join(modules, "@huggingface/transformers/dist"), path.join(dir, "tjs"));
  fs.symlinkSync(path.join(modules, "onnxruntime-web/dist"), path.join(dir, "ort"));
  fs.mkdirSync(path.join(dir, "models"));
  fs.symlinkSync(path.resolve(onnxDir), path.join(dir, "models", model));
  fs.symlinkSync(path.join(ROOT, "tests/e2e/transformersjs/score.mjs"), path.join(dir, "score.mjs"));
  fs.writeFileSync(path.join(dir, "index.html"), "<!doctype html><title>transformers.js</title>\n");
  // Cross-origin isolated, so onnxruntime-web may run its WASM backend on threads.
  site = await staticServer(dir, "/", { "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" });
  examples = JSON.parse(fs.readFileSync(examplesFile, "utf8"));
}
const TJS_DEVICE = { webgpu: "webgpu", cpu: "wasm" };

const rate = (n, s) => n / s;
const fmt = (x) => x.toPrecision(3);
const results = {}; // backend -> { app: [examples/s], tjs: [examples/s], diff: max |Δ class log-prob| }
for (let rep = 1; rep <= Number(repetitions); rep++) {
  for (const backend of backends.split(",")) {
    const [label, flags] = BACKENDS[backend];
    const r = (results[backend] ??= { app: [], tjs: [], diff: 0 });
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), "invscale-bench-profile-"));
    const run = await runApp({ profile, flags, url: appUrl, label });
    fs.rmSync(profile, { recursive: true, force: true });
    if (run.state !== "done") {
      console.log(`${label}, repetition ${rep}: app ${run.state}: ${run.error}`);
      continue;
    }
    const m = run.bundle.models[0];
    const t = m.timing;
    r.app.push(rate(m.examples, t.score_seconds));
    console.log(
      `${label}, repetition ${rep}: app (${run.status}) ${m.examples} examples in ${t.score_seconds.toFixed(1)} s = ${fmt(r.app.at(-1))} examples/s; ` +
        `download+load ${t.load_seconds.toFixed(1)} s; wasm memory ${mib(t.wasm_memory_bytes)}; ` +
        `page JS heap peak ${mib(run.peakHeap)}; Chromium RSS peak ${mib(run.peakRss)}; mean loss ${m.value.mean.toFixed(6)}`,
    );
    if (!site) continue;
    const tprofile = fs.mkdtempSync(path.join(os.tmpdir(), "invscale-bench-profile-"));
    const tjs = await runTransformersJs({ profile: tprofile, flags, siteUrl: site.url, name: model, device: TJS_DEVICE[backend], examples: examples.slice(0, m.examples) });
    fs.rmSync(tprofile, { recursive: true, force: true });
    r.tjs.push(rate(tjs.classLogprobs.length, tjs.scoreSeconds));
    const ours = m.rows;
    for (const [i, lps] of tjs.classLogprobs.entries()) {
      for (const [c, lp] of lps.entries()) r.diff = Math.max(r.diff, Math.abs(lp - ours[i].class_logprobs[c]));
    }
    console.log(
      `${label}, repetition ${rep}: transformers.js (${TJS_DEVICE[backend]}, ${tjs.crossOriginIsolated ? "" : "not "}cross-origin isolated, ${tjs.threads} threads) ` +
        `${tjs.classLogprobs.length} examples in ${tjs.scoreSeconds.toFixed(1)} s = ${fmt(r.tjs.at(-1))} examples/s; load ${tjs.loadSeconds.toFixed(1)} s; ` +
        `page JS heap peak ${mib(tjs.peakHeap)}; Chromium RSS peak ${mib(tjs.peakRss)}`,
    );
  }
}
for (const [backend, r] of Object.entries(results)) {
  if (!r.app.length) continue;
  const line = `median ${BACKENDS[backend][0]}: app ${fmt(median(r.app))} examples/s`;
  if (!r.tjs.length) console.log(line);
  else console.log(`${line}, transformers.js ${fmt(median(r.tjs))} examples/s, ratio ${(median(r.app) / median(r.tjs)).toFixed(2)}x; class log-probs agree within ${r.diff.toExponential(2)}`);
}
app.close();
hub.close();
site?.close();
