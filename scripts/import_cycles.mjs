// A gate (`scripts/test.sh`): the page's modules import one another without a cycle, so each
// part reads as depending only on the parts below it. Prints each cycle found and exits 1.
//
//   node scripts/import_cycles.mjs src/web
import fs from "node:fs";
import path from "node:path";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node scripts/import_cycles.mjs DIR");
  process.exit(2);
}
const modules = fs.readdirSync(dir).filter((f) => f.endsWith(".js"));
// Static imports of sibling modules: `import … from "./name.js"` (multi-line import lists too).
const imports = Object.fromEntries(
  modules.map((m) => {
    const source = fs.readFileSync(path.join(dir, m), "utf8");
    const names = [...source.matchAll(/^import\s[^;]*?from\s+"\.\/([\w.-]+\.js)"/gms)].map((match) => match[1]);
    return [m, names.filter((n) => modules.includes(n))];
  }),
);

// Depth-first search; a module met again while still on the path closes a cycle.
const cycles = [];
const done = new Set();
function visit(m, trail) {
  if (trail.includes(m)) return cycles.push([...trail.slice(trail.indexOf(m)), m]);
  if (done.has(m)) return;
  for (const next of imports[m]) visit(next, [...trail, m]);
  done.add(m);
}
modules.forEach((m) => visit(m, []));
for (const cycle of cycles) console.error(`import cycle: ${cycle.join(" → ")}`);
process.exit(cycles.length ? 1 : 0);
