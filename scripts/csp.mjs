// Trunk post-build hook: gives the page a Content Security Policy (a meta tag, as GitHub Pages
// sets no headers). Scripts: the app's own files, the wasm module, and the inline scripts
// Trunk itself wrote (allowed by their hashes, computed here); no other inline script, no
// eval, no plugins. Connections: the site, the Hugging Face Hub and its download hosts,
// GitHub's raw files (the pipeline's published task files), the local machine (a Hub-layout
// test server, `trunk serve`'s reload socket), and the hosts in INVSCALE_CONNECT (space
// separated, e.g. a Hub mirror) — nothing a task or page parameter could point elsewhere.
// Under `trunk serve` Trunk adds its live-reload script, whose placeholders it fills in per
// request; they are filled in here instead (the page's own host, the reload socket's base),
// so the script is served as hashed and runs. `trunk build` adds no such script: the built
// site's policy allows only the loader.
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const file = path.join(process.env.TRUNK_STAGING_DIR ?? "dist", "index.html");
let html = fs.readFileSync(file, "utf8");
const wsBase = (process.env.TRUNK_SERVE_WS_BASE ?? "/").replace(/\/?$/, "/");
html = html.replace(/<script(?![^>]*\bsrc=)[^>]*>[\s\S]*?<\/script>/g, (script) =>
  script.includes("{{__TRUNK_ADDRESS__}}")
    ? script.replace(/(['`])\{\{__TRUNK_ADDRESS__\}\}\1/g, "window.location.host").replaceAll("{{__TRUNK_WS_BASE__}}", wsBase)
    : script);
const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
const hashes = inline.map((text) => `'sha256-${crypto.createHash("sha256").update(text, "utf8").digest("base64")}'`);
const local = ["http://localhost:*", "http://127.0.0.1:*", "ws://localhost:*", "ws://127.0.0.1:*"];
const hub = ["https://huggingface.co", "https://*.huggingface.co", "https://*.hf.co", "https://raw.githubusercontent.com"];
const configured = (process.env.INVSCALE_CONNECT ?? "").split(/\s+/).filter(Boolean);
for (const host of configured) {
  if (!/^(https?|wss?):\/\/[\w.*-]+(:(\d+|\*))?$/.test(host)) throw new Error(`INVSCALE_CONNECT: \`${host}\` is not a scheme://host[:port]`);
}
const policy = [
  "default-src 'self'",
  `script-src 'self' 'wasm-unsafe-eval' ${hashes.join(" ")}`,
  `connect-src 'self' ${[...hub, ...configured, ...local].join(" ")}`,
  "img-src 'self' data: blob:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");
if (html.includes('http-equiv="Content-Security-Policy"')) throw new Error(`${file} already has a Content Security Policy`);
const charset = /<meta charset="utf-8">/i;
if (!charset.test(html)) throw new Error(`${file}: no <meta charset="utf-8"> to put the policy after`);
html = html.replace(charset, (m) => `${m}\n  <meta http-equiv="Content-Security-Policy" content="${policy}">`);
fs.writeFileSync(file, html);
