// End-to-end test of the web app: the release build (dist/, built by scripts/test.sh) in
// Debian's headless Chromium, models from a local server with the Hub's URL layout.
//  1. A shareable-run URL scores a fixture task with two fixture models on WebGPU; every
//     per-example number equals the PyTorch reference within 1e-4.
//  2. The same with WebGPU unavailable: the page says it fell back to the CPU, same numbers.
//  3. By hand: upload a hostile task, pick a local model folder, tick it, Run; the markup in
//     the task shows as text and runs nothing; a screenshot is saved.
//  4. Cancel stops a long run and keeps the page usable.
//  5. A task from a Hub dataset (`task=hub:<id>`, tree API + resolve) scores like the file
//     and shows a trend verdict.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { staticServer, hubServer } from "./servers.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FIXTURES = path.join(ROOT, "tests/fixtures");
const DIST = path.join(ROOT, "dist");
const OUT = process.env.E2E_OUT ?? path.join(ROOT, "target/e2e");
const TOLERANCE = 1e-4;
const MODELS = ["tiny-hub", "tiny-odd-heads"];
const CHROMIUM_FLAGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];
const WEBGPU = ["--enable-unsafe-webgpu"];
const RUN_TIMEOUT = 10 * 60 * 1000;

let app, hub, appUnderPath;
const reference = JSON.parse(fs.readFileSync(path.join(FIXTURES, "reference.json"), "utf8"));

before(async () => {
  assert.ok(fs.existsSync(path.join(DIST, "index.html")), "dist/ is missing: run `trunk build --release` first");
  fs.mkdirSync(OUT, { recursive: true });
  app = await staticServer(DIST);
  // The same build under a sub-path, as GitHub Pages serves a project site.
  appUnderPath = await staticServer(DIST, "/some-user/invscale/");
  hub = await hubServer({ modelsDir: path.join(FIXTURES, "models"), tasksDir: path.join(FIXTURES, "tasks"), owner: "invscale-fixtures",
    datasets: { "jsonl-task": "classification.jsonl" }, revisions: { "opt-steps": { step1: "tiny-opt-post-ln", step8: "tiny-opt" } } });
});

after(() => {
  app?.close();
  appUnderPath?.close();
  hub?.close();
});

async function withPage(flags, body) {
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: [...CHROMIUM_FLAGS, ...flags] });
  try {
    const page = await browser.newPage();
    const console = [];
    page.on("console", (m) => console.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => console.push(`pageerror: ${e.message}`));
    try {
      return await body(page);
    } catch (e) {
      e.message += `\nbrowser console:\n${console.slice(-30).join("\n")}`;
      throw e;
    }
  } finally {
    await browser.close();
  }
}

async function waitForEnd(page) {
  await page.waitForFunction(() => ["done", "error", "cancelled"].includes(document.body.dataset.state), null, { timeout: RUN_TIMEOUT, polling: 250 });
  const state = await page.evaluate(() => document.body.dataset.state);
  const error = await page.textContent("#error");
  assert.equal(state, "done", `run ended in state ${state}: ${error}`);
  return JSON.parse(await page.textContent("#results-json"));
}

function shareableUrl(task, site = app, modelNames = MODELS) {
  const models = modelNames.map((m) => `invscale-fixtures/${m}`).join(",");
  const q = `task=${encodeURIComponent(`${hub.url}/tasks/${task}`)}&models=${encodeURIComponent(models)}&hub=${encodeURIComponent(hub.url)}&run=1`;
  return `${site.url}/?${q}`;
}

/**
 * Every per-example number of every model against the reference, within 1e-4. `fixtures`
 * maps a model's name to the fixture it was served from, where they differ.
 */
function assertMatchesReference(bundle, task, modelNames = MODELS, fixtures = {}, truncation = "keep-scored") {
  const expected = reference[task];
  assert.equal(bundle.task_type, expected.task_type);
  assert.equal(bundle.models.length, modelNames.length);
  let worst = 0;
  for (const model of bundle.models) {
    const rows = expected.models[fixtures[model.name] ?? model.name]?.[truncation];
    assert.ok(rows, `no reference for model ${model.name}`);
    assert.equal(model.rows.length, rows.length, `${model.name}: number of rows`);
    for (const [i, want] of rows.entries()) {
      const got = model.rows[i];
      for (const [key, value] of Object.entries(want)) {
        const where = `${model.name}, example ${i}, ${key}`;
        if (typeof value === "number") {
          worst = Math.max(worst, Math.abs(got[key] - value));
          assert.ok(Math.abs(got[key] - value) <= TOLERANCE, `${where}: ${got[key]} vs reference ${value}`);
        } else if (Array.isArray(value)) {
          value.forEach((v, j) => {
            worst = Math.max(worst, Math.abs(got[key][j] - v));
            assert.ok(Math.abs(got[key][j] - v) <= TOLERANCE, `${where}[${j}]: ${got[key][j]} vs reference ${v}`);
          });
        } else if (key === "correct") {
          // The bundle holds the pipeline's `int(...)`: 1 or 0.
          assert.strictEqual(got[key], Number(value), where);
        } else {
          assert.deepEqual(got[key], value, where);
        }
      }
    }
  }
  return worst;
}

let webgpuBundle;

test("a shareable run on WebGPU matches the reference", async () => {
  await withPage(WEBGPU, async (page) => {
    await page.goto(shareableUrl("classification.csv"));
    const adapter = await page.evaluate(async () => (await navigator.gpu?.requestAdapter())?.info?.architecture ?? null);
    assert.ok(adapter, "this Chromium exposes no WebGPU adapter");
    webgpuBundle = await waitForEnd(page);
    assert.equal(webgpuBundle.backend, "webgpu", await page.textContent("#backend-status"));
    assert.equal(webgpuBundle.workers, 1, "one worker on WebGPU");
    assert.match(await page.textContent("#backend-status"), /^WebGPU/);
    const worst = assertMatchesReference(webgpuBundle, "classification.csv");
    console.log(`WebGPU (${adapter}): max |app − reference| = ${worst.toExponential(2)}`);
    // The results view is there: one plotted point per model, a summary row per model.
    assert.equal(await page.locator("#plot circle").count(), MODELS.length + 1); // + legend
    assert.equal(await page.locator("#summary-table tbody tr:not(.chance-row)").count(), MODELS.length);
    // The verdict across sizes is in the bundle, on the plot and in words under it.
    const trend = webgpuBundle.trend;
    assert.ok(["inverse", "positive", "u-shaped", "inverted-u", "flat"].includes(trend?.verdict), JSON.stringify(trend));
    assert.equal(trend.models.length, MODELS.length);
    assert.equal(await page.getAttribute("#verdict", "data-verdict"), trend.verdict);
    assert.match(await page.textContent("#verdict"), /bootstrap resamples/);
    assert.match(await page.textContent("#plot .verdict"), /scaling|No clear trend/);

    // A second run downloads nothing: every model file comes from the browser's cache, and
    // the picker marks the models as cached.
    const before = hub.requests.length;
    await page.goto(shareableUrl("classification.csv"));
    const again = await waitForEnd(page);
    const downloads = hub.requests.slice(before).filter((p) => p.includes("/resolve/"));
    assert.deepEqual(downloads, [], "the second run downloaded model files");
    assert.deepEqual(again.models.map((m) => m.rows), webgpuBundle.models.map((m) => m.rows));
    for (const m of MODELS) {
      await page.waitForFunction((repo) => document.querySelector(`span.cached[data-repo="${repo}"]`)?.textContent === "cached", `invscale-fixtures/${m}`);
    }
  });
});

test("without WebGPU the CPU fallback gives the same numbers (site under a sub-path)", async () => {
  await withPage([], async (page) => {
    await page.goto(shareableUrl("classification.csv", appUnderPath));
    const bundle = await waitForEnd(page);
    assert.equal(bundle.backend, "cpu");
    assert.match(await page.textContent("#backend-status"), /WebGPU is not available.*CPU/);
    // Chromium has relaxed SIMD: the dense layers' fused tiles loaded and gave the plain sums.
    assert.match(await page.textContent("#backend-status"), /dense layers in SIMD128 with fused multiply-adds/);
    // One worker per core (this machine has two or more), each scoring a share.
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    assert.equal(bundle.workers, Math.min(cores, 8), `${cores} cores`);
    assert.match(await page.textContent("#backend-status"), new RegExp(`${bundle.workers} workers, each scoring a share`));
    const worst = assertMatchesReference(bundle, "classification.csv");
    console.log(`CPU fallback: max |app − reference| = ${worst.toExponential(2)}`);
    if (webgpuBundle) {
      for (const [m, model] of bundle.models.entries()) {
        for (const [i, row] of model.rows.entries()) {
          assert.ok(Math.abs(row.loss - webgpuBundle.models[m].rows[i].loss) <= TOLERANCE, `${model.name} example ${i}: CPU vs WebGPU`);
        }
      }
    }
  });
});

// Two families beside GPT-2's: GPT-NeoX (safetensors, and pytorch_model.bin only) and OPT
// (vocab.json + merges.txt without tokenizer.json, a BOS token, pytorch_model.bin only, and
// post-LN with projections), as the Hub stores them.
const FAMILIES = ["tiny-neox", "tiny-neox-sequential", "tiny-opt", "tiny-opt-post-ln"];

/** The bundle and page of a run of FAMILIES: a line and a verdict per family. */
async function assertFamilies(page, bundle) {
  assert.deepEqual(bundle.models.map((m) => m.family), ["GPT-NeoX", "GPT-NeoX", "OPT", "OPT"]);
  assert.deepEqual(bundle.family_trends.map((f) => f.family), ["GPT-NeoX", "OPT"]);
  for (const f of bundle.family_trends) {
    assert.deepEqual(f.trend.models.map((m) => m.name).sort(), bundle.models.filter((m) => m.family === f.family).map((m) => m.name).sort());
    assert.equal(await page.getAttribute(`#family-verdicts p[data-family="${f.family}"]`, "data-verdict"), f.trend.verdict);
  }
  assert.equal(await page.locator("#plot g.series[data-series]").count(), 2, "one line per family");
  assert.match(await page.textContent("#plot .legend"), /GPT-NeoX: .*\(\d+%\).*OPT: /);
  // No model file was asked for that the repositories do not have.
  const asked = hub.requests.filter((r) => r.includes("/resolve/") && FAMILIES.some((m) => r.includes(`/${m}/`)));
  for (const r of asked) {
    const [, model, file] = r.match(/\/invscale-fixtures\/([^/]+)\/resolve\/[^/]+\/(.+)$/);
    assert.ok(fs.existsSync(path.join(FIXTURES, "models", model, file)), `asked for ${r}`);
  }
}

test("models of other families (pickle checkpoints, vocab.json + merges.txt) on WebGPU match the reference, a line and verdict per family", async () => {
  await withPage(WEBGPU, async (page) => {
    await page.goto(shareableUrl("classification.csv", app, FAMILIES));
    const bundle = await waitForEnd(page);
    assert.equal(bundle.backend, "webgpu");
    const worst = assertMatchesReference(bundle, "classification.csv", FAMILIES);
    console.log(`WebGPU, GPT-NeoX and OPT: max |app − reference| = ${worst.toExponential(2)}`);
    await assertFamilies(page, bundle);
    await page.locator("#size-figure").screenshot({ path: path.join(OUT, "families.png") });
  });
});

test("the same families on the CPU fallback match the reference", async () => {
  await withPage([], async (page) => {
    await page.goto(shareableUrl("classification.csv", app, FAMILIES));
    const bundle = await waitForEnd(page);
    assert.equal(bundle.backend, "cpu");
    const worst = assertMatchesReference(bundle, "classification.csv", FAMILIES);
    console.log(`CPU fallback, GPT-NeoX and OPT: max |app − reference| = ${worst.toExponential(2)}`);
    await assertFamilies(page, bundle);
  });
});

test("through training: checkpoints ticked by step are scored by Hub revision, each as that revision alone, plotted against the step", async () => {
  await withPage([], async (page) => {
    // A repository with two step revisions (each served from its own fixture) and its main branch.
    await page.goto(`${app.url}/?hub=${encodeURIComponent(hub.url)}&task=${encodeURIComponent(`${hub.url}/tasks/classification.csv`)}`);
    await page.waitForFunction(() => document.body.dataset.state === "idle");
    await page.click("#training-picker summary");
    await page.evaluate(() => {
      // The picker's sizes are the registry's; the fixture repository takes a Pythia size's place.
      const box = document.querySelector("#training-sizes input");
      box.value = "invscale-fixtures/opt-steps";
      box.checked = true;
    });
    await page.fill("#training-steps", "8, 1, 3");
    await page.click("#tick-steps");
    assert.match(await page.textContent("#training-status"), /^2 checkpoints ticked\. 3: not a published step/);
    const ticked = await page.evaluate(() => [...document.querySelectorAll("#model-list input:checked")].map((b) => b.value));
    assert.deepEqual(ticked, ["invscale-fixtures/opt-steps@step8", "invscale-fixtures/opt-steps@step1"]);
    await page.click("#run");
    const bundle = await waitForEnd(page);
    const fixtures = { "opt-steps@step1": "tiny-opt-post-ln", "opt-steps@step8": "tiny-opt" };
    const worst = assertMatchesReference(bundle, "classification.csv", Object.keys(fixtures), fixtures);
    console.log(`through training (2 revisions): max |app − each revision alone| = ${worst.toExponential(2)}`);
    assert.ok(hub.requests.includes("/invscale-fixtures/opt-steps/resolve/step1/model.safetensors"), hub.requests.join("\n"));
    assert.ok(hub.requests.includes("/invscale-fixtures/opt-steps/resolve/step8/pytorch_model.bin"), hub.requests.join("\n"));
    const [training] = bundle.training_trends;
    assert.equal(bundle.training_trends.length, 1);
    assert.equal(training.model, "opt-steps");
    assert.deepEqual(training.trend.models.map((m) => [m.name, m.step]), [["opt-steps@step1", 1], ["opt-steps@step8", 8]]);
    assert.equal(bundle.trend, null, "checkpoints through training are no trend across sizes");
    assert.equal(await page.isHidden("#size-figure"), true);
    assert.equal(await page.isVisible("#training-figure"), true);
    assert.equal(await page.locator("#training-plot g.series circle").count(), 2);
    assert.match(await page.textContent("#training-plot"), /training step \(log scale\)/);
    assert.equal(await page.getAttribute('#training-verdicts p[data-model="opt-steps"]', "data-verdict"), training.trend.verdict);
    assert.match(await page.textContent("#training-verdicts"), /opt-steps through training \(steps 1, 8\): .*checkpoint/);
    await page.locator("#training-figure").screenshot({ path: path.join(OUT, "through-training.png") });

    // The run's link runs it again from the URL alone, with the same numbers.
    const link = await page.getAttribute("#run-link", "href");
    assert.match(link, /models=invscale-fixtures%2Fopt-steps%40step8%2Cinvscale-fixtures%2Fopt-steps%40step1/);
    await page.goto(link);
    const again = await waitForEnd(page);
    assert.deepEqual(again.models.map((m) => m.rows), bundle.models.map((m) => m.rows));
    assert.deepEqual(again.training_trends, bundle.training_trends);
  });
});

test("f16 weights: refused on an adapter without shader-f16; on the CPU labelled and within the stated deviation", async () => {
  await withPage(WEBGPU, async (page) => {
    // SwiftShader has no shader-f16: the run stops before any model, saying why and what to pick.
    await page.goto(shareableUrl("classification.csv") + "&precision=f16");
    await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: RUN_TIMEOUT });
    assert.match(await page.textContent("#error"), /shader-f16.*float32, or the CPU backend/);

    await page.goto(shareableUrl("classification.csv") + "&precision=f16&backend=cpu");
    const bundle = await waitForEnd(page);
    assert.equal(bundle.precision, "f16");
    const stated = (await page.textContent("#precision-status")).match(/up to ([\d.e-]+) nats/);
    assert.ok(stated, await page.textContent("#precision-status"));
    const expected = reference["classification.csv"];
    let worst = 0;
    for (const model of bundle.models) {
      for (const [i, want] of expected.models[model.name]["keep-scored"].entries()) {
        for (const key of ["loss", "total_logprob"]) worst = Math.max(worst, Math.abs(model.rows[i][key] - want[key]));
      }
    }
    console.log(`f16 weights on the CPU: max |app − float32 reference| = ${worst.toExponential(2)} (stated ${stated[1]})`);
    assert.ok(worst <= Number(stated[1]), `f16 moved a number by ${worst}, more than the page states`);
    assert.ok(worst > TOLERANCE, "f16 gave the float32 numbers: the weights were not rounded");

    // The cache keeps the weights' f16 copy in place of the download: tiny-hub's in half the bytes.
    const kept = await page.evaluate(async () => {
      const cache = await caches.open("invscale-models-v1");
      const sizes = {};
      for (const r of await cache.keys()) if (r.url.includes("model.safetensors")) sizes[r.url.replace(/^.*\/(invscale-fixtures\/[^/]+)\/.*?(\?.*)?$/, "$1$2")] = (await (await cache.match(r)).blob()).size;
      return sizes;
    });
    const original = fs.statSync(path.join(FIXTURES, "models/tiny-hub/model.safetensors")).size;
    assert.deepEqual(Object.keys(kept).sort(), MODELS.map((m) => `invscale-fixtures/${m}?invscale-copy=f16`).sort(), JSON.stringify(kept));
    const copy = kept["invscale-fixtures/tiny-hub?invscale-copy=f16"];
    assert.ok(copy < 0.52 * original, `tiny-hub's f16 copy takes ${copy} bytes, the file ${original}`);
    console.log(`f16 copy of tiny-hub in the cache: ${copy} bytes, the Hub's file ${original}`);
    // A run from the copies downloads no weights and gives exactly the same numbers.
    const before = hub.requests.length;
    await page.goto(shareableUrl("classification.csv") + "&precision=f16&backend=cpu&seed=1"); // another run key: nothing restored
    const again = await waitForEnd(page);
    assert.deepEqual(hub.requests.slice(before).filter((p) => p.includes("model.safetensors")), [], "weights were downloaded again");
    assert.deepEqual(again.models.map((m) => m.rows), bundle.models.map((m) => m.rows));
    // The picker says the weights are kept only in f16 (a float32 run would download them).
    for (const m of MODELS) {
      await page.waitForFunction((repo) => document.querySelector(`span.cached[data-repo="${repo}"]`)?.textContent === "cached as f16", `invscale-fixtures/${m}`);
    }
  });
});

test("by hand: upload a hostile task, pick a local model, run; markup stays text", async () => {
  await withPage(WEBGPU, async (page) => {
    await page.goto(`${app.url}/`);
    await page.waitForFunction(() => document.body.dataset.state === "idle");
    await page.setInputFiles("#task-file", path.join(FIXTURES, "tasks/hostile.csv"));
    await page.waitForFunction(() => /examples/.test(document.getElementById("task-status").textContent));
    // A folder as a user has it (the fixture's tokenizer files are symlinks, which uploads
    // skip): an OPT as its repository holds it, pytorch_model.bin and vocab.json + merges.txt.
    const folder = path.join(OUT, "tiny-opt");
    fs.rmSync(folder, { recursive: true, force: true });
    fs.cpSync(path.join(FIXTURES, "models/tiny-opt"), folder, { recursive: true, dereference: true });
    await page.setInputFiles("#model-folder", folder);
    await page.locator("#local-models input").first().check();
    await page.click("#run");
    const bundle = await waitForEnd(page);
    assert.equal(bundle.models.length, 1);
    assert.deepEqual([bundle.models[0].name, bundle.models[0].family], ["tiny-opt", "OPT"]);
    const table = await page.textContent("#examples-table");
    assert.ok(table.includes('<img src=x onerror="window.__injected=1">'), "the prompt's markup is shown as text");
    assert.ok(table.includes("<script>window.__injected=2</script>"));
    assert.equal(await page.locator("#examples-table img, #examples-table script, #summary-table img").count(), 0);
    assert.equal(await page.evaluate(() => window.__injected), undefined, "a script from the task ran");
    await page.screenshot({ path: path.join(OUT, "app.png"), fullPage: true });
  });
});

test("a pasted task with a mistake shows the parser's row and column; a fixed one parses", async () => {
  await withPage([], async (page) => {
    await page.goto(`${app.url}/`);
    await page.waitForFunction(() => document.body.dataset.state === "idle");
    await page.fill("#task-paste", "prompt,classes,answer_index\n\"Q: 1+1?\",\"[' 2', ' 3']\",0\n\"Q: 2+2?\",\"[' 4', ' 5']\",7\n");
    await page.click("#use-paste");
    const status = page.locator("#task-status");
    await assert.doesNotReject(status.filter({ hasText: "row 3, column `answer_index`" }).waitFor());
    assert.equal(await status.getAttribute("class"), "error");
    assert.equal(await page.isDisabled("#run"), true);
    await page.fill("#task-paste", "prompt,classes,answer_index\n\"Q: 1+1?\",\"[' 2', ' 3']\",0\n");
    await page.click("#use-paste");
    await status.filter({ hasText: "1 classification examples" }).waitFor();
  });
});

test("a logodds class of several tokens is named once in the page, with the token it is scored by", async () => {
  await withPage([], async (page) => {
    await page.goto(`${app.url}/?hub=${encodeURIComponent(hub.url)}&models=invscale-fixtures/tiny-hub&backend=cpu`);
    await page.waitForFunction(() => document.body.dataset.state === "idle");
    await page.fill("#task-paste", "prompt,other_prompt,classes,answer_index\nA,B,\"[' yes', ' antidisestablishmentarianism']\",0\n");
    await page.click("#use-paste");
    await page.locator("#task-status").filter({ hasText: "1 logodds examples" }).waitFor();
    await page.click("#run");
    await waitForEnd(page);
    const notes = await page.locator("#progress .note").allTextContents();
    // Every CPU worker loads the model; one of them says it.
    const named = notes.filter((n) => n.includes("antidisestablishmentarianism"));
    assert.equal(named.length, 1, notes.join("\n"));
    assert.match(named[0], /^tiny-hub: class " antidisestablishmentarianism" \(row 2\) is \d+ tokens; logodds scores its last token, ".+" \(id \d+\), as the pipeline does$/);
  });
});

test("a dropped task file is parsed like an uploaded one; a Parquet file is read too, a damaged one refused", async () => {
  await withPage([], async (page) => {
    await page.goto(`${app.url}/`);
    await page.waitForFunction(() => document.body.dataset.state === "idle");
    const text = fs.readFileSync(path.join(FIXTURES, "tasks/sequence_prob.csv"), "utf8");
    await page.evaluate((csv) => {
      const data = new DataTransfer();
      data.items.add(new File([csv], "dropped.csv", { type: "text/csv" }));
      document.getElementById("drop-zone").dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
    }, text);
    await page.locator("#task-status").filter({ hasText: "dropped.csv: 10 sequence_prob examples" }).waitFor();
    // A Parquet file (as the Hub stores `datasets` uploads) through the file picker.
    await page.setInputFiles("#task-file", path.join(FIXTURES, "tasks/classification.parquet"));
    await page.locator("#task-status").filter({ hasText: "classification.parquet: 8 classification examples" }).waitFor();
    // A damaged Parquet file whose data trips an assertion inside the Parquet reader: said
    // plainly; the page replaces its wasm instance (a trapped one leaks its stack: a few hundred
    // traps break it) and goes on reading the next file.
    const fresh = page.waitForRequest((r) => r.url().includes("invscale-web.js?instance=1"));
    await page.setInputFiles("#task-file", path.join(FIXTURES, "tasks/damaged.parquet"));
    await page.locator("#task-status.error").filter({ hasText: /damaged\.parquet: the file could not be read: its reader stopped on damaged data/ }).waitFor();
    await fresh;
    await page.waitForFunction(() => document.body.dataset.wasmInstance === "1");
    assert.equal(await page.isDisabled("#run"), true);
    await page.setInputFiles("#task-file", path.join(FIXTURES, "tasks/classification.csv"));
    await page.locator("#task-status").filter({ hasText: "classification.csv: 12 classification examples" }).waitFor();
  });
});

test("a model the Hub does not have ends the run in the error state, naming it", async () => {
  await withPage([], async (page) => {
    const q = `task=${encodeURIComponent(`${hub.url}/tasks/classification.csv`)}&models=invscale-fixtures/no-such-model&hub=${encodeURIComponent(hub.url)}&run=1`;
    await page.goto(`${app.url}/?${q}`);
    await page.waitForFunction(() => document.body.dataset.state === "error", null, { timeout: RUN_TIMEOUT });
    assert.match(await page.textContent("#error"), /no-such-model.*HTTP 404/);
  });
});

/** CRC-32 (the zip's), as node 20's zlib does not offer it. */
function crc32(bytes) {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/** A stored (uncompressed) zip of `entries` ([name, bytes]), as PyTorch writes its checkpoints. */
function storedZip(entries) {
  const parts = [];
  const central = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = Buffer.from(name);
    // What the local header and the central directory's entry both say, from "version needed" on.
    const described = Buffer.alloc(26);
    described.writeUInt16LE(20, 0);
    described.writeUInt32LE(crc32(data), 10);
    described.writeUInt32LE(data.length, 14);
    described.writeUInt32LE(data.length, 18);
    described.writeUInt16LE(nameBytes.length, 22);
    const signature = (value) => Buffer.from(Uint32Array.of(value).buffer);
    const local = Buffer.concat([signature(0x04034b50), described]);
    const place = Buffer.alloc(14); // comment, disk, attributes, then the local header's offset
    place.writeUInt32LE(offset, 10);
    const entry = Buffer.concat([signature(0x02014b50), Buffer.from([20, 0]), described, place]);
    parts.push(local, nameBytes, data);
    central.push(entry, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, directory, end]);
}

/** The entries of a stored zip, by its central directory. */
function zipEntries(zip) {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let at = zip.readUInt32LE(end + 16);
  const entries = [];
  for (let i = 0; i < zip.readUInt16LE(end + 10); i++) {
    const [size, nameLength, extra, comment, local] = [zip.readUInt32LE(at + 20), zip.readUInt16LE(at + 28), zip.readUInt16LE(at + 30), zip.readUInt16LE(at + 32), zip.readUInt32LE(at + 42)];
    const name = zip.subarray(at + 46, at + 46 + nameLength).toString();
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    entries.push([name, zip.subarray(start, start + size)]);
    at += 46 + nameLength + extra + comment;
  }
  return entries;
}

/**
 * Model folders an attacker could publish, each one thing broken in a valid checkpoint, with
 * the error the page must show: a header claiming 640 GB (allocation), a pickle nested a
 * million deep (the stack), a token id past the embedding (an out-of-bounds read), a context of
 * a billion positions (a table that size); and, refused by the CPU page alone, a model of 53
 * trillion parameters (`huge-model`).
 */
function hostileModels(dir) {
  const copy = (from, name, changed) => {
    fs.mkdirSync(path.join(dir, name));
    const source = path.join(FIXTURES, "models", from);
    for (const file of fs.readdirSync(source)) fs.writeFileSync(path.join(dir, name, file), changed[file] ?? fs.readFileSync(path.join(source, file)));
  };
  const hub = (file) => fs.readFileSync(path.join(FIXTURES, "models/tiny-hub", file));
  copy("tiny-hub", "tiny-hub", {});

  const weights = hub("model.safetensors");
  const headerLength = Number(weights.readBigUInt64LE(0));
  const header = JSON.parse(weights.subarray(8, 8 + headerLength).toString());
  const end = Math.max(...Object.values(header).flatMap((t) => t.data_offsets ?? []));
  header["h.1.attn.bias"] = { dtype: "F32", shape: [400000, 400000], data_offsets: [end, end + 400000 * 400000 * 4] };
  const newHeader = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(newHeader.length));
  copy("tiny-hub", "huge-tensor", { "model.safetensors": Buffer.concat([length, newHeader, weights.subarray(8 + headerLength)]) });

  // TUPLE1 a million times over an empty tuple.
  const deep = Buffer.concat([Buffer.from([0x80, 0x02, 0x29]), Buffer.alloc(1_000_000, 0x85), Buffer.from(".")]);
  const bin = zipEntries(fs.readFileSync(path.join(FIXTURES, "models/tiny-opt/pytorch_model.bin")));
  copy("tiny-opt", "deep-pickle", { "pytorch_model.bin": storedZip(bin.map(([name, data]) => [name, name.endsWith("/data.pkl") ? deep : data])) });

  const tokenizer = JSON.parse(hub("tokenizer.json").toString());
  tokenizer.model.vocab.hello = 99999;
  copy("tiny-hub", "token-id", { "tokenizer.json": JSON.stringify(tokenizer) });

  const config = JSON.parse(hub("config.json").toString());
  copy("tiny-hub", "huge-context", { "config.json": JSON.stringify({ ...config, n_positions: 1e9, n_ctx: 1e9 }) });
  // Within every limit on a size, but 53 trillion parameters: more than the CPU page can address.
  copy("tiny-hub", "huge-model", { "config.json": JSON.stringify({ ...config, n_layer: 1024, n_embd: 65536, n_head: 64 }) });
  return {
    // Natively: "its header's tensors take 640002696616 bytes, but the file holds 2696616".
    "huge-tensor": /huge-tensor: model\.safetensors: not a valid safetensors file: tensor `h\.1\.attn\.bias` reaches byte 640002696616, past what this machine can address/,
    "deep-pickle": /deep-pickle: pytorch_model\.bin: [^\n]*data\.pkl, byte \d+: values nested more than 100 deep; a state dict nests a few/,
    "token-id": /token-id: tokenizer\.json: token `hello` has id 99999, beyond the embedding's 50257 rows \(config\.json's vocab_size\)/,
    "huge-context": /huge-context: config\.json: [^\n]*n_positions[^\n]*must be at most 2097152/,
  };
}

/** The hostile model only the CPU page refuses (on WebGPU the weights are not in its memory). */
const TOO_LARGE_FOR_CPU = /huge-model: config\.json: the model's \d+ parameters take at least \d+ GiB in f32, more than the 4 GiB this machine can address on the CPU: choose WebGPU, or a smaller model/;

test("a hostile repository ends its model's run with the error named, and the page runs the next models and the next run", async () => {
  const dir = fs.mkdtempSync(path.join(OUT, "hostile-"));
  const expected = hostileModels(dir);
  const hostile = await hubServer({ modelsDir: dir, tasksDir: path.join(FIXTURES, "tasks"), owner: "hostile" });
  try {
    await withPage(WEBGPU, async (page) => {
      const models = [...Object.keys(expected), "tiny-hub"].map((m) => `hostile/${m}`).join(",");
      const url = `${app.url}/?task=${encodeURIComponent(`${hub.url}/tasks/classification.csv`)}&models=${encodeURIComponent(models)}&hub=${encodeURIComponent(hostile.url)}&run=1`;
      await page.goto(url);
      await page.waitForFunction(() => ["done", "error", "cancelled"].includes(document.body.dataset.state), null, { timeout: RUN_TIMEOUT, polling: 250 });
      assert.equal(await page.evaluate(() => document.body.dataset.state), "error");
      const errors = await page.textContent("#error");
      for (const [model, message] of Object.entries(expected)) assert.match(errors, message, `${model}: ${errors}`);
      // The model after them was scored, as the reference has it.
      assertMatchesReference(JSON.parse(await page.textContent("#results-json")), "classification.csv", ["tiny-hub"]);

      // The same page runs again: the healthy model alone, to the end.
      for (const model of Object.keys(expected)) await page.uncheck(`#model-list input[value="hostile/${model}"]`);
      await page.click("#run");
      await page.waitForFunction(() => document.body.dataset.state === "running");
      assertMatchesReference(await waitForEnd(page), "classification.csv", ["tiny-hub"]);
    });
    // Without WebGPU: a model the page's memory cannot address is refused before a download.
    await withPage([], async (page) => {
      const url = `${app.url}/?task=${encodeURIComponent(`${hub.url}/tasks/classification.csv`)}&models=hostile/huge-model&hub=${encodeURIComponent(hostile.url)}&run=1`;
      await page.goto(url);
      await page.waitForFunction(() => ["done", "error", "cancelled"].includes(document.body.dataset.state), null, { timeout: RUN_TIMEOUT, polling: 250 });
      assert.match(await page.textContent("#error"), TOO_LARGE_FOR_CPU);
      assert.ok(!hostile.requests.some((r) => r.endsWith("/model.safetensors") && r.includes("/huge-model/")), "the weights were downloaded");
    });
  } finally {
    hostile.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("javascript: URLs in the task and hub parameters are refused, and run nothing", async () => {
  await withPage([], async (page) => {
    for (const param of ["task=javascript:window.__injected=1", "hub=javascript:window.__injected=2"]) {
      await page.goto(`${app.url}/?${param}&run=1`);
      await page.waitForFunction(() => document.body.dataset.state === "error");
      assert.match(await page.textContent("#error"), /only http and https URLs are allowed, not javascript:/);
      assert.equal(await page.evaluate(() => window.__injected), undefined);
    }
  });
});

test("the page's Content Security Policy lets the app run and stops injected script", async () => {
  await withPage([], async (page) => {
    await page.goto(`${app.url}/`);
    await page.waitForFunction(() => document.body.dataset.state === "idle");
    const policy = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', "content");
    assert.match(policy, /script-src 'self' 'wasm-unsafe-eval' 'sha256-/);
    assert.doesNotMatch(policy, /'unsafe-inline'|'unsafe-eval'/);
    const ran = await page.evaluate(async () => {
      const script = document.createElement("script");
      script.textContent = "window.__inline = 1";
      document.body.append(script);
      const img = document.createElement("img");
      img.setAttribute("onerror", "window.__handler = 1");
      img.src = "data:,not-an-image";
      document.body.append(img);
      await new Promise((r) => setTimeout(r, 300));
      return { inline: window.__inline ?? null, handler: window.__handler ?? null };
    });
    // (eval cannot be probed from here: the test's own evaluation is exempt from the policy.)
    assert.deepEqual(ran, { inline: null, handler: null });
    // Connections only to the Hub, GitHub's raw files and the local machine: a task parameter
    // pointing elsewhere is refused by the browser, and the page says why.
    assert.match(policy, /connect-src 'self' https:\/\/huggingface\.co /);
    assert.doesNotMatch(policy, /connect-src[^;]* https: /);
    await page.goto(`${app.url}/?task=${encodeURIComponent("https://example.org/task.csv")}`);
    await page.waitForFunction(() => document.body.dataset.state === "error");
    assert.match(await page.textContent("#error"), /cannot load https:\/\/example\.org\/task\.csv: this page connects only to the Hub/);
  });
  // The built site has no live-reload script: its policy allows Trunk's loader alone.
  assert.doesNotMatch(fs.readFileSync(path.join(DIST, "index.html"), "utf8"), /trunk\/ws/);
});

// A task made like the prize's: one instruction every prompt repeats, then the question.
const SHARED_TASK = ["prompt,classes,answer_index",
  ...[["Is the sky blue?", 0], ["Is fire cold?", 1], ["Do fish swim?", 0], ["Is ice hot?", 1], ["Can birds fly?", 0], ["Is snow black?", 1]]
    .map(([q, a]) => `"Answer yes or no.\nQ: ${q}\nA:","[' yes', ' no']",${a}`)].join("\n");

/** axe-core's serious and critical findings on the page as it is. */
async function accessibilityProblems(page) {
  await page.evaluate(fs.readFileSync(path.join(ROOT, "tests/e2e/node_modules/axe-core/axe.min.js"), "utf8"));
  const found = await page.evaluate(async () => (await globalThis.axe.run(document, { resultTypes: ["violations"] })).violations);
  return found.filter((v) => ["serious", "critical"].includes(v.impact)).map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join("; ")})`);
}

test("the examples view: shared text once, sorted and filtered by how examples scale, one model by a click; accessible at every width", async () => {
  hub.files ??= {};
  hub.files["/tasks/shared.csv"] = SHARED_TASK;
  await withPage([], async (page) => {
    await page.goto(shareableUrl("shared.csv"));
    const bundle = await waitForEnd(page);
    assert.deepEqual(await accessibilityProblems(page), [], "axe-core on the results");
    assert.equal(await page.isVisible("#shared-prompt"), true);
    await page.click("#shared-prompt summary");
    assert.equal(await page.textContent("#shared-prompt-text"), "Answer yes or no.\n");
    const own = await page.locator("#examples-table tbody tr td.text > span").allTextContents();
    assert.deepEqual(own.slice(0, 2), ["Q: Is the sky blue?\nA:", "Q: Is fire cold?\nA:"]);
    assert.equal(await page.locator("#examples-table tbody tr td.spark svg").count(), 6, "a sparkline per example");

    // The orders, checked against the bundle's numbers: models by size, largest minus smallest.
    const [small, large] = [...bundle.models].sort((a, b) => a.parameters - b.parameters);
    const change = (i) => large.rows[i].loss - small.rows[i].loss;
    const shown = () => page.locator("#examples-table tbody tr").evaluateAll((rows) => rows.map((r) => Number(r.dataset.index)));
    const all = [0, 1, 2, 3, 4, 5];
    await page.selectOption("#example-order", "worse");
    assert.deepEqual(await shown(), all.filter((i) => change(i) > 0).sort((a, b) => change(b) - change(a)));
    await page.selectOption("#example-order", "better");
    assert.deepEqual(await shown(), all.filter((i) => change(i) < 0).sort((a, b) => change(a) - change(b)));
    await page.selectOption("#example-order", "wrong");
    assert.deepEqual(await shown(), all.filter((i) => !small.rows[i].correct && !large.rows[i].correct));
    await page.selectOption("#example-order", "disagree");
    assert.deepEqual(await shown(), all.filter((i) => small.rows[i].correct !== large.rows[i].correct));
    await page.selectOption("#example-order", "all");
    await page.selectOption("#example-class", " no");
    assert.deepEqual(await shown(), [1, 3, 5]);
    await page.selectOption("#example-class", "");

    // A click on a model's point leaves its column alone; the button brings the others back.
    await page.click(`#plot circle[data-model="${large.name}"]`);
    const headers = () => page.locator("#examples-table thead th").allTextContents();
    assert.deepEqual((await headers()).filter((h) => h.includes("P(class)")), [`${large.name}: P(class)`]);
    assert.match(await page.textContent("#focus-text"), new RegExp(`Showing ${large.name} only`));
    await page.locator("#examples-table").screenshot({ path: path.join(OUT, "examples.png") });
    await page.click("#show-all-models");
    assert.equal((await headers()).filter((h) => h.includes("P(class)")).length, 2);

    // A phone's width and the system's dark mode: the same page, still without serious findings.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.emulateMedia({ colorScheme: "dark" });
    assert.deepEqual(await accessibilityProblems(page), [], "axe-core at a phone's width, dark");
    await page.screenshot({ path: path.join(OUT, "phone-dark.png"), fullPage: true });
  });
});

test("settings compared side by side: one run per setting, each matching the reference, a line and a verdict each, shareable", async () => {
  await withPage([], async (page) => {
    // Started from the pipeline's truncation, so that the controls put back differ from the last run's.
    await page.goto(`${shareableUrl("long_prompt.csv")}&truncation=pipeline&compare=truncation`);
    const bundle = await waitForEnd(page);
    assert.deepEqual(bundle.comparison.map((l) => l.label), ["pipeline truncation", "keep-scored truncation"]);
    assert.equal(bundle.truncation, "keep-scored", "results.json carries the last run's own settings, not the controls put back");
    assert.deepEqual(bundle.comparison.map((l) => l.settings), [{ truncation: "pipeline" }, { truncation: "keep-scored" }]);
    for (const [layer, truncation] of [[bundle.comparison[0], "pipeline"], [bundle.comparison[1], "keep-scored"]]) {
      const worst = assertMatchesReference({ task_type: bundle.task_type, models: layer.models }, "long_prompt.csv", MODELS, {}, truncation);
      console.log(`compared, ${truncation}: max |app − reference| = ${worst.toExponential(2)}`);
      assert.equal(await page.getAttribute(`#comparison-verdicts p[data-setting="${layer.label}"]`, "data-verdict"), layer.trend.verdict);
    }
    assert.deepEqual(await page.locator("#plot g.series[data-series]").evaluateAll((g) => g.map((e) => e.dataset.series)), ["pipeline truncation", "keep-scored truncation"]);
    assert.equal(await page.inputValue("#truncation"), "pipeline", "the settings are put back");
    // Long prompts show their end (where examples differ), the whole a click away.
    const first = page.locator("#examples-table tbody tr").first();
    const end = await first.locator("td.text > span").textContent();
    assert.ok(end.startsWith("… ") && end.length === 482 && end.endsWith("A:"), end);
    assert.match(await first.locator("td.text summary").textContent(), /^full prompt \(\d+ characters\)$/);
    await page.locator("#size-figure").screenshot({ path: path.join(OUT, "comparison.png") });
    // The link runs the whole comparison again, from the settings it started with (not the
    // last setting's).
    const link = new URL(await page.getAttribute("#run-link", "href"));
    assert.deepEqual([link.searchParams.get("compare"), link.searchParams.get("truncation")], ["truncation", "pipeline"]);
  });
});

test("the task editor: a template and fillers checked as typed (a mistake's row and column), the prize's rule, token counts, exports and a link holding the task", async () => {
  await withPage([], async (page) => {
    const hubParam = `hub=${encodeURIComponent(hub.url)}&models=invscale-fixtures/tiny-hub`;
    await page.goto(`${app.url}/?${hubParam}`);
    await page.waitForFunction(() => document.body.dataset.state === "idle");
    await page.click("#task-editor summary");
    await page.fill("#editor-template", "Q: Is {thing} {quality}?\nA:");
    const fillers = (last) => `thing,quality,classes,answer_index\nthe sky,blue,"[' yes', ' no']",0\nfire,cold,"[' yes', ' no']",${last}\n`;
    await page.fill("#editor-rows", fillers(7));
    await page.waitForFunction(() => /answer_index/.test(document.getElementById("editor-status").textContent));
    assert.match(await page.textContent("#editor-status"), /^row 3, column `answer_index`: .*\(rows are the fillers table's/);
    assert.equal(await page.getAttribute("#editor-rows", "aria-invalid"), "true");
    // A class glued to the prompt is warned of, with its row.
    await page.fill("#editor-rows", fillers(1).replace("' no']\",1", "'no']\",1"));
    await page.waitForFunction(() => /no leading space/.test(document.getElementById("editor-warnings").textContent));
    assert.match(await page.textContent("#editor-warnings"), /row 3.*class "no" has no leading space/);
    await page.fill("#editor-rows", fillers(1));
    await page.waitForFunction(() => /2 classification examples/.test(document.getElementById("editor-status").textContent));
    assert.match(await page.textContent("#editor-warnings"), /at least 300 examples \(about 1000 recommended\): this task has 2/);

    // Token counts under the ticked model's tokenizer (GPT-2's): one token per class here.
    await page.click("#editor-tokens");
    await page.waitForFunction(() => document.querySelectorAll("#editor-token-table tbody tr").length === 2);
    assert.deepEqual(await page.locator("#editor-token-table tbody td:nth-child(2)").allTextContents(), ["1, 1", "1, 1"]);
    await page.locator("#task-editor").screenshot({ path: path.join(OUT, "editor.png") });

    // The JSONL export reads back as the task.
    const download = page.waitForEvent("download");
    await page.click('#editor-exports a[download="task.jsonl"]');
    const lines = fs.readFileSync(await (await download).path(), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines, [
      { prompt: "Q: Is the sky blue?\nA:", classes: [" yes", " no"], answer_index: 0 },
      { prompt: "Q: Is fire cold?\nA:", classes: [" yes", " no"], answer_index: 1 },
    ]);
    await page.click("#editor-use");
    assert.match(await page.textContent("#task-status"), /^written task: 2 classification examples/);

    // The link holds the task: opened elsewhere, it runs with no file anywhere.
    const link = await page.getAttribute("#editor-link", "href");
    await page.goto(`${link}&${hubParam}&run=1`);
    const bundle = await waitForEnd(page);
    assert.deepEqual([bundle.task, bundle.examples], ["linked task", 2]);
    assert.match(await page.getAttribute("#run-link", "href"), /task-data=/);
  });
});

/** A TCP port nobody listens on now. */
function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

test("development: `trunk serve` runs the page under its policy and live reload works", async () => {
  const port = await freePort();
  const dist = path.join(OUT, "serve-dist");
  const args = ["serve", "--release", "--dist", dist, "--address", "127.0.0.1", "--port", String(port)];
  const trunk = spawn("trunk", args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let log = "";
  trunk.stdout.on("data", (d) => (log += d));
  trunk.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}/`;
  try {
    for (let waited = 0; !(await fetch(url).then((r) => r.ok, () => false)); waited += 1000) {
      assert.ok(waited < 8 * 60 * 1000 && trunk.exitCode === null, `trunk serve did not come up:\n${log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await withPage([], async (page) => {
      const refused = [];
      page.on("console", (m) => /Content Security Policy/i.test(m.text()) && refused.push(m.text()));
      const socket = page.waitForEvent("websocket", { predicate: (ws) => ws.url().includes("/.well-known/trunk/ws"), timeout: 60_000 });
      await page.goto(url);
      await page.waitForFunction(() => document.body.dataset.state === "idle");
      await socket;
      // A source file saved again: Trunk rebuilds and tells the page, which reloads itself.
      const reloaded = page.waitForEvent("framenavigated", { timeout: 5 * 60_000 });
      const style = path.join(ROOT, "www/style.css");
      fs.writeFileSync(style, fs.readFileSync(style));
      await reloaded;
      await page.waitForFunction(() => document.body.dataset.state === "idle");
      assert.deepEqual(refused, [], "the policy refused something under trunk serve");
    });
  } finally {
    process.kill(-trunk.pid, "SIGTERM");
  }
});

test("Cancel stops a long run; the page keeps responding", async () => {
  await withPage([], async (page) => {
    const url = `${app.url}/?task=tasks/proverb-endings.csv&models=invscale-fixtures/tiny-hub&hub=${encodeURIComponent(hub.url)}&run=1`;
    await page.goto(url);
    await page.waitForFunction(() => /examples ·/.test(document.getElementById("progress").textContent), null, { timeout: RUN_TIMEOUT });
    // The main thread is free while the worker scores: animation frames keep coming.
    const frames = await page.evaluate(() => new Promise((resolve) => {
      let n = 0;
      const start = performance.now();
      const tick = () => (performance.now() - start < 500 ? (n++, requestAnimationFrame(tick)) : resolve(n));
      requestAnimationFrame(tick);
    }));
    assert.ok(frames >= 10, `only ${frames} animation frames in 500 ms while scoring`);
    // Each model's rate and time left stay in view while the page scrolls.
    assert.match(await page.textContent("#progress"), /\/s · \d+ s left/);
    assert.equal(await page.evaluate(() => getComputedStyle(document.getElementById("run-section")).position), "sticky");
    await page.click("#cancel");
    await page.waitForFunction(() => document.body.dataset.state === "cancelled");
    assert.match(await page.textContent("#progress"), /cancelled/);
    assert.equal(await page.isDisabled("#run"), false, "Run is usable again after Cancel");
    // What was scored before Cancel is exported, marked partial.
    const bundle = JSON.parse(await page.textContent("#results-json"));
    assert.equal(bundle.complete, false);
    assert.deepEqual(bundle.models, []);
    assert.equal(bundle.partial_models.length, 1);
    const { partial, rows } = bundle.partial_models[0];
    assert.ok(partial.scored > 0 && partial.scored < partial.examples, JSON.stringify(partial));
    // (The CPU's workers each scored from the start of their share.)
    const indices = rows.map((r) => r.index);
    assert.deepEqual(indices, [...new Set(indices)].sort((x, y) => x - y), "each scored example once, in task order");
    assert.equal(indices.length, partial.scored);
    assert.ok(indices.every((i) => Number.isInteger(i) && i >= 0 && i < partial.examples), JSON.stringify(indices));
    assert.match(await page.textContent("#summary-table"), new RegExp(`tiny-hub \\(partial: ${partial.scored} of 300 examples\\)`));
    assert.equal(await page.locator('#exports a[download="tiny-hub.partial.csv"]').count(), 1);
  });
});

test("a task from a Hub dataset (task=hub:…) is listed, fetched, scored and given a verdict", async () => {
  await withPage(WEBGPU, async (page) => {
    const models = MODELS.map((m) => `invscale-fixtures/${m}`).join(",");
    const q = `task=hub:invscale-fixtures/jsonl-task&models=${encodeURIComponent(models)}&hub=${encodeURIComponent(hub.url)}&run=1`;
    await page.goto(`${app.url}/?${q}`);
    const bundle = await waitForEnd(page);
    assert.equal(bundle.task, "hub:invscale-fixtures/jsonl-task@main/data/classification.jsonl");
    assert.ok(hub.requests.includes("/api/datasets/invscale-fixtures/jsonl-task/tree/main"), hub.requests.join("\n"));
    const worst = assertMatchesReference(bundle, "classification.jsonl");
    console.log(`Hub dataset task: max |app − reference| = ${worst.toExponential(2)}`);
    assert.ok(bundle.trend?.verdict, JSON.stringify(bundle.trend));
    assert.equal(await page.isVisible("#verdict"), true);
    await page.locator("#results").screenshot({ path: path.join(OUT, "results.png") });

    // A dataset the Hub does not have: the task status says so and the page stays usable.
    await page.fill("#hub-task", "invscale-fixtures/no-such-dataset");
    await page.click("#load-hub-task");
    await page.waitForFunction(() => /404/.test(document.getElementById("task-status").textContent));
    assert.equal(await page.isDisabled("#run"), true);
  });
});

test("few-shot settings rebuild the task's prompts as the worker will, and too many shots are refused", async () => {
  await withPage([], async (page) => {
    const task = encodeURIComponent(`${hub.url}/tasks/classification.csv`);
    await page.goto(`${app.url}/?task=${task}&shots=2&seed=5`);
    await page.waitForFunction(() => /examples/.test(document.getElementById("task-status").textContent));
    assert.match(await page.textContent("#task-status"), /preceded by 2 other examples/);
    await page.click("summary:text('Settings')");
    await page.fill("#shots", "100");
    await page.dispatchEvent("#shots", "change");
    await page.waitForFunction(() => /need at least 101 examples/.test(document.getElementById("task-status").textContent));
    assert.equal(await page.getAttribute("#task-status", "class"), "error");
  });
});

test("reproduce: a published task loads with its models and the pipeline's truncation, published numbers beside ours", async () => {
  const rows = reference["classification.csv"].models;
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const published = {
    data: `${hub.url}/tasks`,
    tasks: [{
      name: "fixture-task", file: "classification.csv", type: "classification",
      models: MODELS.map((m) => ({
        model: `hub:invscale-fixtures/${m}`,
        loss: mean(rows[m].pipeline.map((r) => r.loss)),
        accuracy: mean(rows[m].pipeline.map((r) => (r.correct ? 1 : 0))),
      })),
    }],
  };
  hub.files = { "/published.json": JSON.stringify(published) };
  await withPage(WEBGPU, async (page) => {
    const q = `published=${encodeURIComponent(`${hub.url}/published.json`)}&reproduce=fixture-task&hub=${encodeURIComponent(hub.url)}&run=1`;
    await page.goto(`${app.url}/?${q}`);
    const bundle = await waitForEnd(page);
    assert.equal(bundle.truncation, "pipeline");
    assert.deepEqual(bundle.models.map((m) => m.name), MODELS);
    const cells = await page.locator("#summary-table td.published").allTextContents();
    assert.equal(cells.length, MODELS.length);
    for (const [i, m] of bundle.models.entries()) {
      const want = published.tasks[0].models[i];
      assert.equal(cells[i], `${want.loss.toFixed(3)} / ${want.accuracy.toFixed(3)}`);
      // Ours equal the "published" (reference) means: the comparison is like for like.
      assert.ok(Math.abs(m.value.mean - want.loss) < 1e-4, `${m.name}: ${m.value.mean} vs ${want.loss}`);
    }
  });
});

test("downloads retry 5xx and 429 answers with back-off, saying so", async () => {
  hub.faults = {
    "/invscale-fixtures/tiny-odd-heads/resolve/main/config.json": [500, 429],
    "/invscale-fixtures/tiny-odd-heads/resolve/main/model.safetensors": [503],
  };
  await withPage(WEBGPU, async (page) => {
    await page.goto(shareableUrl("classification.csv"));
    const bundle = await waitForEnd(page);
    assertMatchesReference(bundle, "classification.csv");
    const progress = await page.textContent("#progress");
    assert.match(progress, /config\.json: HTTP 500 Internal Server Error; trying again in 1 s \(attempt 2 of 4\)/);
    assert.match(progress, /config\.json: HTTP 429 Too Many Requests; trying again in 2 s \(attempt 3 of 4\)/);
    assert.match(progress, /model\.safetensors: HTTP 503 Service Unavailable; trying again/);
  });
  assert.deepEqual(Object.values(hub.faults).flat(), [], "every injected fault was met");
  hub.faults = {};
});

/** Numbers within `tolerance`, everything else equal; returns the largest difference. */
function assertSameResults(got, want, tolerance, where = "") {
  if (typeof want === "number") {
    assert.ok(Math.abs(got - want) <= tolerance, `${where}: ${got} vs ${want}`);
    return Math.abs(got - want);
  }
  if (want === null || typeof want !== "object") {
    assert.deepEqual(got, want, where);
    return 0;
  }
  assert.deepEqual(Object.keys(got ?? {}).sort(), Object.keys(want).sort(), `${where}: keys`);
  return Math.max(0, ...Object.keys(want).map((k) => assertSameResults(got[k], want[k], tolerance, `${where}.${k}`)));
}

test("a run cut short by a reload resumes from the kept examples and ends as an uninterrupted run", async () => {
  const models = MODELS.map((m) => `invscale-fixtures/${m}`).join(",");
  const query = `task=tasks/proverb-endings.csv&models=${encodeURIComponent(models)}&hub=${encodeURIComponent(hub.url)}&backend=cpu`;
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS });
  let resumed, kept, total;
  try {
    const page = await browser.newPage();
    await page.goto(`${app.url}/?${query}&run=1`);
    // Reload the page in the middle of the first model's examples.
    // (`data-kept`: examples the page has written to the browser's storage.)
    await page.waitForFunction(() => Number(document.querySelector("#progress .progress-row")?.dataset.kept) >= 10, null, { timeout: RUN_TIMEOUT, polling: 10 });
    await page.goto(app.url);
    await page.waitForSelector("#resume-offer:not([hidden])");
    const offer = await page.textContent("#resume-text");
    [, kept, total] = offer.match(/(\d+) of (\d+) examples were scored and kept/).map(Number);
    assert.match(offer, /^proverb-endings\.csv with tiny-hub, tiny-odd-heads/);
    assert.ok(kept >= 10 && kept < total / 2, `the reload came mid-run: ${kept} of ${total} kept`);
    await page.click("#resume-run");
    resumed = await waitForEnd(page);
    assert.match(await page.textContent("#progress"), /kept from before/);
    // Reopened once more, the finished run is not offered again.
    await page.goto(app.url);
    await page.waitForFunction(() => document.body.dataset.state === "idle");
    assert.equal(await page.isHidden("#resume-offer"), true, "a finished run is offered for resuming");
  } finally {
    await browser.close();
  }
  // Nothing kept was scored again, and everything else was scored once.
  const restored = resumed.models.map((m) => m.timing.restored_examples);
  assert.equal(restored.reduce((a, b) => a + b, 0), kept, `kept ${kept}, restored ${restored}`);
  assert.ok(resumed.complete);
  for (const m of resumed.models) assert.deepEqual(m.rows.map((r) => r.index), [...Array(total / MODELS.length).keys()]);

  const uninterrupted = await withPage([], async (page) => {
    await page.goto(`${app.url}/?${query}&run=1`);
    return waitForEnd(page);
  });
  assert.ok(uninterrupted.models.every((m) => m.timing.restored_examples === 0));
  const strip = (bundle) => ({ ...bundle, models: bundle.models.map(({ timing, ...m }) => m) });
  const worst = assertSameResults(strip(resumed), strip(uninterrupted), 1e-6, "bundle");
  console.log(`resumed after ${kept} of ${total} examples; max |resumed − uninterrupted| ${worst.toExponential(2)}`);
});

test("a comparison cut short by a reload resumes whole: the settings already run are restored, not scored again", async () => {
  const query = `task=tasks/proverb-endings.csv&models=invscale-fixtures/tiny-hub&hub=${encodeURIComponent(hub.url)}&backend=cpu&compare=truncation`;
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true, args: CHROMIUM_FLAGS });
  let resumed, kept;
  try {
    const page = await browser.newPage();
    await page.goto(`${app.url}/?${query}&run=1`);
    // Reload in the middle of the second setting's run.
    await page.waitForFunction(
      () => /run 2 of 2/.test(document.querySelector("#progress .comparison-step")?.textContent ?? "") && Number(document.querySelector("#progress .progress-row")?.dataset.kept) >= 10,
      null,
      { timeout: RUN_TIMEOUT, polling: 10 },
    );
    await page.goto(app.url);
    await page.waitForSelector("#resume-offer:not([hidden])");
    const offer = await page.textContent("#resume-text");
    assert.match(offer, /^proverb-endings\.csv with tiny-hub \(comparing settings: run 2 of 2\), started /);
    [, kept] = offer.match(/(\d+) of \d+ examples were scored and kept/).map(Number);
    assert.ok(kept >= 10 && kept < 300, `the reload came mid-run: ${kept} kept`);
    await page.click("#resume-run");
    resumed = await waitForEnd(page);
    assert.equal(await page.inputValue("#truncation"), "keep-scored", "the settings are put back");
    assert.deepEqual(await page.locator("#plot g.series[data-series]").evaluateAll((g) => g.map((e) => e.dataset.series)), ["pipeline truncation", "keep-scored truncation"]);
  } finally {
    await browser.close();
  }
  assert.deepEqual(resumed.comparison.map((l) => l.label), ["pipeline truncation", "keep-scored truncation"]);
  // The first setting came back whole from the browser's storage; the second scored only what the reload lost.
  assert.deepEqual(resumed.comparison.map((l) => l.models[0].timing.restored_examples), [300, kept]);

  const uninterrupted = await withPage([], async (page) => {
    await page.goto(`${app.url}/?${query}&run=1`);
    return waitForEnd(page);
  });
  const strip = (layers) => layers.map(({ models, ...l }) => ({ ...l, models: models.map(({ timing, ...m }) => m) }));
  const worst = assertSameResults(strip(resumed.comparison), strip(uninterrupted.comparison), 1e-6, "comparison");
  console.log(`comparison resumed after ${kept} of the second setting's 300 examples; max |resumed − uninterrupted| ${worst.toExponential(2)}`);
});

test("a download cut mid-file resumes with Range; a corrupted byte fails the SHA-256 and is fetched again", async () => {
  const weights = "/invscale-fixtures/tiny-hub/resolve/main/model.safetensors";
  hub.faults = { [weights]: ["cut", "corrupt"] };
  hub.ranges.length = 0;
  try {
    await downloadFaults(weights);
  } finally {
    hub.claimedSha256 = {};
    hub.faults = {};
  }
});

async function downloadFaults(weights) {
  await withPage([], async (page) => {
    await page.goto(shareableUrl("classification.csv"));
    assertMatchesReference(await waitForEnd(page), "classification.csv");
    const progress = await page.textContent("#progress");
    assert.match(progress, /model\.safetensors: the connection broke after 1\.3 MB of 2\.7 MB \([^)]*\); resuming from 1\.3 MB in 1 s \(attempt 2 of 4\)/);
    assert.match(progress, /model\.safetensors does not match the SHA-256 the Hub gives for it \(expected [0-9a-f]{12}…, got [0-9a-f]{12}…\): discarded, downloading it again/);
    const size = fs.statSync(path.join(FIXTURES, "models/tiny-hub/model.safetensors")).size;
    assert.deepEqual(hub.ranges, [`${weights} bytes=${Math.floor(size / 2)}-`], "one request resumed from the bytes received");
    assert.deepEqual(Object.values(hub.faults).flat(), [], "every injected fault was met");

    // The Hub now names other weights (a branch moved on): the examples kept for the old ones
    // are not reused, the cached file is dropped and fetched again, and a file that still
    // does not match ends that model's run, saying so.
    hub.claimedSha256 = { "tiny-hub": "ab".repeat(32) };
    await page.goto(shareableUrl("classification.csv"));
    await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state), null, { timeout: RUN_TIMEOUT });
    assert.match(await page.textContent("#progress"), /the cached model\.safetensors is not the Hub's current one \(SHA-256 [0-9a-f]{12}…, the Hub says abababababab…\): downloading it again/);
    assert.match(await page.textContent("#error"), /tiny-hub: .*model\.safetensors: twice the download did not match the SHA-256 the Hub gives for it/);
    const bundle = JSON.parse(await page.textContent("#results-json"));
    assert.deepEqual(bundle.models.map((m) => m.name), ["tiny-odd-heads"], "the other model still ran");
    assert.equal(bundle.models[0].timing.restored_examples, 12, "the other model's kept examples were reused");
  });
}

test("a full browser storage is reported with the room the weights need; the run still ends right", async () => {
  await withPage([], async (page) => {
    await page.goto(`${app.url}/`);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: new URL(app.url).origin, quotaSize: 200_000 });
    await page.goto(shareableUrl("classification.csv"));
    assertMatchesReference(await waitForEnd(page), "classification.csv");
    assert.match(await page.textContent("#progress"), /tiny-hub: the browser's storage is full: model\.safetensors needs 2\.7 MB(: [\d.]+ MB free of the [\d.]+ MB it allows this site)?\. Free space .*; it is used now and downloaded again next time/);
  });
});

// Prepended to worker.js in a copy of the app: the first two workers of a browser destroy
// their WebGPU device after their first scored example, as a driver reset would.
const LOSE_DEVICE = `
let deviceToLose = null;
const originalRequestDevice = GPUAdapter.prototype.requestDevice;
GPUAdapter.prototype.requestDevice = async function (...args) {
  const device = await originalRequestDevice.apply(this, args);
  for (const flag of ["invscale-test-device-lost-1", "invscale-test-device-lost-2"]) {
    if (await caches.has(flag)) continue;
    await caches.open(flag);
    deviceToLose = device;
    break;
  }
  return device;
};
const originalPost = self.postMessage.bind(self);
self.postMessage = (message) => {
  originalPost(message);
  if (deviceToLose && message.event === "example") {
    deviceToLose.destroy();
    deviceToLose = null;
  }
};
`;

test("a WebGPU device lost mid-run is reported and the run goes on from the kept examples (new device, then CPU), matching the reference", async () => {
  const copy = fs.mkdtempSync(path.join(OUT, "device-lost-"));
  fs.cpSync(DIST, copy, { recursive: true });
  fs.writeFileSync(path.join(copy, "worker.js"), LOSE_DEVICE + fs.readFileSync(path.join(DIST, "worker.js"), "utf8"));
  const site = await staticServer(copy);
  try {
    await withPage(WEBGPU, async (page) => {
      await page.goto(shareableUrl("classification.csv", site));
      const bundle = await waitForEnd(page);
      // First a new WebGPU device, then (lost again) the CPU.
      const progress = await page.textContent("#progress");
      assert.match(progress, /The GPU failed \(the WebGPU device was lost: [^)]*\)\. The run goes on on a new WebGPU device from the last example kept\./);
      assert.match(progress, /The GPU failed \(the WebGPU device was lost: [^)]*\)\. The run goes on on the CPU from the last example kept\./);
      assert.equal(bundle.backend, "cpu");
      assert.ok(bundle.complete);
      const restored = bundle.models.map((m) => m.timing.restored_examples);
      assert.ok(restored[0] >= 2, `what was kept before the losses was not restored: ${restored}`);
      const worst = assertMatchesReference(bundle, "classification.csv");
      console.log(`device lost twice; restored ${restored}; max |app − reference| ${worst.toExponential(2)}`);
    });
  } finally {
    site.close();
    fs.rmSync(copy, { recursive: true, force: true });
  }
});
