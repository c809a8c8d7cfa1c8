// Trunk post-build hook: gives the page a Content Security Policy (a meta tag, as GitHub Pages
// sets no headers). Scripts: the app's own files, the wasm module, and the inline scripts
// Trunk itself wrote (allowed by their hashes, computed here); no other inline script, no
// eval, no plugins. Connections: the site, https (the Hub, or a server of the user's choice)
// and the local machine (a Hub-layout test server, `trunk serve`'s reload socket).
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const file = path.join(process.env.TRUNK_STAGING_DIR ?? "dist", "index.html");
let html = fs.readFileSync(file, "utf8");
const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
const hashes = inline.map((text) => `'sha256-${crypto.createHash("sha256").update(text, "utf8").digest("base64")}'`);
const local = ["http://localhost:*", "http://127.0.0.1:*", "ws://localhost:*", "ws://127.0.0.1:*"];
const policy = [
  "default-src 'self'",
  `script-src 'self' 'wasm-unsafe-eval' ${hashes.join(" ")}`,
  `connect-src 'self' https: ${local.join(" ")}`,
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
