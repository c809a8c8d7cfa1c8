// Local servers for the browser test: the built app (dist/) and a server with the Hugging
// Face Hub's URL layout (`/{owner}/{repo}/resolve/{revision}/{file}`) serving the fixture
// checkpoints, plus the fixture task files under `/tasks/`.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".json": "application/json", ".css": "text/css",
  ".csv": "text/csv", ".jsonl": "application/jsonl", ".safetensors": "application/octet-stream",
};

const CORS = { "access-control-allow-origin": "*", "access-control-expose-headers": "content-range, content-length" };

/**
 * Sends `file`, honouring `Range: bytes=N-` with a 206. `fault` "cut" sends half the bytes
 * and then breaks the connection; "corrupt" flips one byte in the middle of what is sent.
 */
function sendFile(res, file, range = null, fault = null, extra = {}) {
  fs.stat(file, (err, stat) => {
    if (err || !stat.isFile()) {
      res.writeHead(404, { "content-type": "text/plain", ...CORS });
      res.end("not found");
      return;
    }
    const start = Number(/^bytes=(\d+)-$/.exec(range ?? "")?.[1] ?? 0);
    if (start >= stat.size && start > 0) {
      res.writeHead(416, { "content-range": `bytes */${stat.size}`, ...CORS });
      return res.end();
    }
    const headers = { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "content-length": stat.size - start, "accept-ranges": "bytes", ...CORS, ...extra };
    if (start > 0) res.writeHead(206, { ...headers, "content-range": `bytes ${start}-${stat.size - 1}/${stat.size}` });
    else res.writeHead(200, headers);
    if (!fault) return fs.createReadStream(file, { start }).pipe(res);
    const bytes = fs.readFileSync(file).subarray(start);
    const half = Math.floor(bytes.length / 2);
    if (fault === "cut") {
      res.write(bytes.subarray(0, half));
      return setTimeout(() => res.destroy(), 100);
    }
    const copy = Buffer.from(bytes);
    copy[half] ^= 0xff;
    res.end(copy);
  });
}

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => {
    server.url = `http://127.0.0.1:${server.address().port}`;
    server.requests = [];
    server.ranges = [];
    resolve(server);
  }));
}

/** The Hub's tree listing of a model folder: the weights as an LFS file with its SHA-256. */
function modelListing(dir) {
  return fs.readdirSync(dir).map((name) => {
    const file = path.join(dir, name);
    const size = fs.statSync(file).size;
    const entry = { type: "file", path: name, size, oid: "0".repeat(40) };
    if (/\.(safetensors|bin)$/.test(name)) entry.lfs = { oid: sha256OfFile(file), size, pointerSize: 134 };
    return entry;
  });
}

const digests = new Map();

/** SHA-256 of a file of any size, read in chunks; remembered per path and modification time. */
function sha256OfFile(file) {
  const key = `${file}:${fs.statSync(file).mtimeMs}`;
  if (!digests.has(key)) {
    const hash = crypto.createHash("sha256");
    const fd = fs.openSync(file, "r");
    const chunk = Buffer.alloc(16 << 20);
    for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0; ) hash.update(chunk.subarray(0, n));
    fs.closeSync(fd);
    digests.set(key, hash.digest("hex"));
  }
  return digests.get(key);
}

/** Serves `dir` as a static site under the path `prefix` (as GitHub Pages serves a project). */
/** Serves `dir` under `prefix`, each answer with `headers` too (e.g. cross-origin isolation). */
export async function staticServer(dir, prefix = "/", headers = {}) {
  const server = await listen((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (!pathname.startsWith(prefix)) return sendFile(res, "");
    const rest = pathname.slice(prefix.length - 1);
    const file = path.join(dir, rest.endsWith("/") ? `${rest}index.html` : rest);
    if (!file.startsWith(dir)) return sendFile(res, "");
    sendFile(res, file, null, null, headers);
  });
  server.url += prefix.replace(/\/$/, "");
  return server;
}

/**
 * A Hub: `/{owner}/{name}/resolve/{revision}/{file}` → `{modelsDir}/{name}/{file}` for
 * owner `owner`; `/tasks/{file}` → `{tasksDir}/{file}`; and datasets of `owner`: `datasets`
 * maps a dataset name to a task file, listed by `/api/datasets/{owner}/{name}/tree/{rev}`
 * beside a README as `data/{file}` and served by `/datasets/{owner}/{name}/resolve/{rev}/data/{file}`.
 * `server.files` (path → text, settable after start) are served as they are; `server.faults`
 * (path → list of statuses, or "cut" / "corrupt" for a model file's body) answers a path with
 * those, one per request, before serving it normally. `/api/models/{owner}/{name}/tree/{rev}`
 * lists a model's files with the weights' SHA-256 (or `server.claimedSha256[name]` instead).
 * `revisions` maps a repository to its revisions' fixture folders (`{"opt-steps": {step1:
 * "tiny-opt-post-ln"}}`), as a model published at several training steps; other
 * repositories serve their folder at every revision. Every request is logged, and each Range
 * header in `server.ranges`.
 */
export async function hubServer({ modelsDir, tasksDir, owner, datasets = {}, revisions = {} }) {
  const folder = (name, revision) => path.join(modelsDir, Object.hasOwn(revisions, name) ? revisions[name][revision] ?? ".missing" : name);
  const server = await listen((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
    server.requests.push(pathname);
    if (req.method === "OPTIONS") {
      res.writeHead(204, { ...CORS, "access-control-allow-headers": "range", "access-control-allow-methods": "GET" });
      return res.end();
    }
    if (req.headers.range) server.ranges.push(`${pathname} ${req.headers.range}`);
    let fault = server.faults?.[pathname]?.shift();
    const bodyFault = typeof fault === "string" ? fault : null;
    if (bodyFault) fault = null;
    if (fault) {
      res.writeHead(fault, { "content-type": "text/plain", "access-control-allow-origin": "*", ...(fault === 429 ? { "retry-after": "1" } : {}) });
      return res.end(`injected ${fault}`);
    }
    if (Object.hasOwn(server.files ?? {}, pathname)) {
      res.writeHead(200, { "content-type": TYPES[path.extname(pathname)] ?? "text/plain", "access-control-allow-origin": "*" });
      return res.end(server.files[pathname]);
    }
    const tree = pathname.match(/^\/api\/datasets\/([^/]+)\/([^/]+)\/tree\/[^/]+$/);
    if (tree && tree[1] === owner && Object.hasOwn(datasets, tree[2])) {
      const file = datasets[tree[2]];
      const listing = [
        { type: "file", path: "README.md", size: 120 },
        { type: "directory", path: "data", size: 0 },
        { type: "file", path: `data/${file}`, size: fs.statSync(path.join(tasksDir, file)).size },
      ];
      res.writeHead(200, { "content-type": "application/json", "access-control-allow-origin": "*" });
      return res.end(JSON.stringify(listing));
    }
    const data = pathname.match(/^\/datasets\/([^/]+)\/([^/]+)\/resolve\/[^/]+\/data\/([^/]+)$/);
    if (data && data[1] === owner && datasets[data[2]] === data[3]) return sendFile(res, path.join(tasksDir, data[3]));
    const modelTree = pathname.match(/^\/api\/models\/([^/]+)\/([^/]+)\/tree\/([^/]+)$/);
    if (modelTree && modelTree[1] === owner && fs.existsSync(folder(modelTree[2], modelTree[3]))) {
      res.writeHead(200, { "content-type": "application/json", ...CORS });
      const listing = modelListing(folder(modelTree[2], modelTree[3]));
      const claimed = server.claimedSha256?.[modelTree[2]];
      for (const entry of listing) if (entry.lfs && claimed) entry.lfs.oid = claimed;
      return res.end(JSON.stringify(listing));
    }
    const hub = pathname.match(/^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/([^/]+)$/);
    if (hub && hub[1] === owner && !hub[2].startsWith(".")) return sendFile(res, path.join(folder(hub[2], hub[3]), hub[4]), req.headers.range, bodyFault);
    const task = pathname.match(/^\/tasks\/([^/]+)$/);
    if (task && !task[1].startsWith(".")) return sendFile(res, path.join(tasksDir, task[1]));
    sendFile(res, "");
  });
  return server;
}
