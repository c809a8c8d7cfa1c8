// Shared by the browser benchmarks: starts headless Chromium on a profile directory, opens
// the app on a shareable-run URL, samples memory until the run ends, returns the page's
// results bundle with the peaks.
import fs from "node:fs";
import { chromium } from "playwright-core";

export const FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
export const BACKENDS = {
  webgpu: ["WebGPU", ["--enable-unsafe-webgpu"]],
  // WebGPU on a real GPU of a headless Linux machine: Vulkan, not SwiftShader.
  gpu: ["WebGPU (hardware)", ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-vulkan=native", "--use-angle=vulkan", "--ignore-gpu-blocklist", "--disable-vulkan-surface"]],
  cpu: ["CPU fallback", []],
};
export const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** Resident memory of all descendants of process `root` (not itself), in bytes. */
export function descendantsRss(root) {
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

/**
 * Samples, every 200 ms until `stop()`, the memory of all Chromium processes (our children)
 * and the JS heap of `page`, keeping the peaks in `rss` and `heap`.
 */
async function sampleMemory(page) {
  const cdp = await page.context().newCDPSession(page);
  const peaks = { rss: 0, heap: 0 };
  const timer = setInterval(async () => {
    peaks.rss = Math.max(peaks.rss, descendantsRss(process.pid));
    try {
      peaks.heap = Math.max(peaks.heap, (await cdp.send("Runtime.getHeapUsage")).usedSize);
    } catch {}
  }, 200);
  peaks.stop = () => clearInterval(timer);
  return peaks;
}

/**
 * Runs the app at `url` in Chromium with `flags` on the on-disk `profile` (as a user's: its
 * storage quota holds checkpoints in the cache). Resolves to `{ state, error, bundle, status,
 * peakRss, peakHeap, cacheBytes }`: the final page state, the results bundle when done, the
 * backend line (adapter, workers), the peak memory of all Chromium processes, the page's peak
 * JS heap and what the model cache holds.
 */
export async function runApp({ profile, flags, url, label }) {
  const browser = await chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", headless: true, args: [...FLAGS, ...flags] });
  try {
    const page = await browser.newPage();
    const peaks = await sampleMemory(page);
    // Progress on stderr, so a slow adapter is visibly working.
    const ticker = setInterval(async () => {
      const line = await page.textContent("#progress").catch(() => "");
      process.stderr.write(`  ${label}: ${line.replace(/\s+/g, " ").trim()}\n`);
    }, 30000);
    try {
      await page.goto(url);
      await page.waitForFunction(() => ["done", "error", "cancelled"].includes(document.body.dataset.state), null, { timeout: 0, polling: 1000 });
    } finally {
      peaks.stop();
      clearInterval(ticker);
    }
    const state = await page.evaluate(() => document.body.dataset.state);
    const error = state === "done" ? null : await page.textContent("#error");
    const bundle = state === "done" ? JSON.parse(await page.textContent("#results-json")) : null;
    // What the model cache holds afterwards (each entry's size as kept with it).
    const cacheBytes = await page.evaluate(async () => {
      const cache = await caches.open("invscale-models-v1");
      let bytes = 0;
      for (const r of await cache.keys()) bytes += Number((await cache.match(r)).headers.get("content-length")) || 0;
      return bytes;
    });
    const status = await page.textContent("#backend-status");
    return { state, error, bundle, status, peakRss: peaks.rss, peakHeap: peaks.heap, cacheBytes };
  } finally {
    await browser.close();
  }
}

/** Median of numbers. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Runs transformers.js's scoring (tests/e2e/transformersjs/score.mjs) in Chromium with `flags`
 * on the page at `siteUrl`, model `name` on `device`. Resolves to score()'s answer with the
 * peak memory of all Chromium processes and the page's peak JS heap.
 */
export async function runTransformersJs({ profile, flags, siteUrl, name, device, examples }) {
  const browser = await chromium.launchPersistentContext(profile, { executablePath: "/usr/bin/chromium", headless: true, args: [...FLAGS, ...flags] });
  try {
    const page = await browser.newPage();
    const peaks = await sampleMemory(page);
    try {
      await page.goto(`${siteUrl}/index.html`);
      page.setDefaultTimeout(0);
      const result = await page.evaluate(async (args) => (await import("/score.mjs")).score(args), { name, device, examples });
      return { ...result, peakRss: peaks.rss, peakHeap: peaks.heap };
    } finally {
      peaks.stop();
    }
  } finally {
    await browser.close();
  }
}
