// Local servers for the browser test: the built app (dist/) and a server with the Hugging
// Face Hub's URL layout (`/{owner}/{repo}/resolve/{revision}/{file}`) serving the fixture
// checkpoints, plus the fixture task files under `/tasks/`.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".wasm": "application/wasm", ".json": "application/json", ".css": "text/css",
  ".csv": "text/csv", ".jsonl": "application/jsonl", ".safetensors": "application/octet-stream",
};

function sendFile(res, file) {
  fs.stat(file, (err, stat) => {
    if (err || !stat.isFile()) {
      res.writeHead(404, { "content-type": "text/plain", "access-control-allow-origin": "*" });
      res.end("not found");
      return;
    }
    res.writeHead(200, {
      "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "content-length": stat.size,
      "access-control-allow-origin": "*",
    });
    fs.createReadStream(file).pipe(res);
  });
}

function listen(handler) {
  const server = http.createServer(handler);
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => {
    server.url = `http://127.0.0.1:${server.address().port}`;
    server.requests = [];
    resolve(server);
  }));
}

/** Serves `dir` as a static site under the path `prefix` (as GitHub Pages serves a project). */
export async function staticServer(dir, prefix = "/") {
  const server = await listen((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (!pathname.startsWith(prefix)) return sendFile(res, "");
    const rest = pathname.slice(prefix.length - 1);
    const file = path.join(dir, rest.endsWith("/") ? `${rest}index.html` : rest);
    if (!file.startsWith(dir)) return sendFile(res, "");
    sendFile(res, file);
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
 * (path → list of statuses) answers a path with those statuses, one per request, before
 * serving it. Every request is logged.
 */
export async function hubServer({ modelsDir, tasksDir, owner, datasets = {} }) {
  const server = await listen((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, "http://x").pathname);
    server.requests.push(pathname);
    const fault = server.faults?.[pathname]?.shift();
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
    const hub = pathname.match(/^\/([^/]+)\/([^/]+)\/resolve\/([^/]+)\/([^/]+)$/);
    if (hub && hub[1] === owner && !hub[2].startsWith(".")) return sendFile(res, path.join(modelsDir, hub[2], hub[4]));
    const task = pathname.match(/^\/tasks\/([^/]+)$/);
    if (task && !task[1].startsWith(".")) return sendFile(res, path.join(tasksDir, task[1]));
    sendFile(res, "");
  });
  return server;
}
