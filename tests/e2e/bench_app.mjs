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
import { chromium } from "playwright-core";
import { staticServer, hubServer } from "./servers.mjs";

const [modelsDir, model, taskFile, backends = "webgpu,cpu"] = process.argv.slice(2);
if (!taskFile) {
  console.error("usage: node tests/e2e/bench_app.mjs MODELS_DIR MODEL TASK.csv");
  process.exit(2);
}
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

/** Resident memory of all descendants of process `root` (not itself), in bytes. */
function descendantsRss(root) {
  const children = new Map();
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(pid));
    } catch {}
  }
  let total = 0;
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const pid = stack.pop();
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
      total += Number(status.match(/VmRSS:\s+(\d+)/)?.[1] ?? 0) * 1024;
    } catch {}
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}

const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const app = await staticServer(path.join(ROOT, "dist"));
const hub = await hubServer({ modelsDir: path.resolve(modelsDir), tasksDir: path.dirname(path.resolve(taskFile)), owner: "bench" });
const task = `${hub.url}/tasks/${path.basename(taskFile)}`;

const BACKENDS = { webgpu: ["WebGPU", ["--enable-unsafe-webgpu"]], cpu: ["CPU fallback", []] };
for (const [label, flags] of backends.split(",").map((b) => BACKENDS[b])) {
  // A profile on disk, as a user's: its storage quota holds the checkpoint in the cache.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "invscale-bench-profile-"));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", headless: true, args: [...FLAGS, ...flags] });
  const page = await browser.newPage();
  const cdp = await page.context().newCDPSession(page);
  let peakRss = 0, peakHeap = 0;
  const sampler = setInterval(async () => {
    peakRss = Math.max(peakRss, descendantsRss(process.pid)); // Chromium is our child
    try {
      peakHeap = Math.max(peakHeap, (await cdp.send("Runtime.getHeapUsage")).usedSize);
    } catch {}
  }, 200);
  await page.goto(`${app.url}/?task=${encodeURIComponent(task)}&models=bench/${model}&hub=${encodeURIComponent(hub.url)}&run=1`);
  // Progress on stderr, so a slow adapter is visibly working.
  const ticker = setInterval(async () => {
    const line = await page.textContent("#progress").catch(() => "");
    process.stderr.write(`  ${label}: ${line.replace(/\s+/g, " ").trim()}\n`);
  }, 30000);
  await page.waitForFunction(() => ["done", "error", "cancelled"].includes(document.body.dataset.state), null, { timeout: 0, polling: 1000 });
  clearInterval(sampler);
  clearInterval(ticker);
  const state = await page.evaluate(() => document.body.dataset.state);
  if (state !== "done") {
    console.log(`${label}: ${state}: ${await page.textContent("#error")}`);
  } else {
    const bundle = JSON.parse(await page.textContent("#results-json"));
    const m = bundle.models[0];
    const t = m.timing;
    console.log(
      `${label} (${bundle.backend}): ${m.examples} examples in ${t.score_seconds.toFixed(1)} s = ${(m.examples / t.score_seconds).toFixed(3)} examples/s; ` +
        `download+load ${t.load_seconds.toFixed(1)} s; wasm memory ${mib(t.wasm_memory_bytes)}; ` +
        `page JS heap peak ${mib(peakHeap)}; Chromium RSS peak ${mib(peakRss)}; mean loss ${m.value.mean.toFixed(6)}`,
    );
  }
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}
app.close();
hub.close();
