// The results plot: the main metric against parameter count (log x), one point per model
// with standard-error bars, and the chance baseline. Built with DOM calls only: model names
// are text nodes, never markup.

const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 380, M = { left: 70, right: 20, top: 20, bottom: 80 };

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceTicks(lo, hi, count = 5) {
  const span = hi - lo || Math.abs(hi) || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-12; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

export function formatParams(n) {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)}B` : n >= 1e6 ? `${(n / 1e6).toFixed(0)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)}K` : String(n);
}

/**
 * Draws `points` = [{name, parameters, mean, sem}] into `svg`. `label` names the metric,
 * `lowerIsBetter` (true, false, or null for neither) goes in the legend, `chance` (or null) is drawn as a dashed line, `verdict`
 * (a short text, or null) is written in the top left corner.
 */
export function drawPlot(svg, { points, label, lowerIsBetter, chance, verdict }) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  if (points.length === 0) return;
  const xs = points.map((p) => Math.log10(p.parameters));
  let xlo = Math.min(...xs), xhi = Math.max(...xs);
  if (xhi - xlo < 0.2) { xlo -= 0.3; xhi += 0.3; }
  const pad = (xhi - xlo) * 0.08;
  xlo -= pad; xhi += pad;
  const ys = points.flatMap((p) => [p.mean - (p.sem || 0), p.mean + (p.sem || 0)]);
  if (chance != null) ys.push(chance);
  let ylo = Math.min(...ys), yhi = Math.max(...ys);
  const ypad = (yhi - ylo) * 0.1 || Math.abs(yhi) * 0.1 || 1;
  ylo -= ypad; yhi += ypad;
  const px = (x) => M.left + ((x - xlo) / (xhi - xlo)) * (W - M.left - M.right);
  const py = (y) => H - M.bottom - ((y - ylo) / (yhi - ylo)) * (H - M.top - M.bottom);

  const axes = el("g", { class: "axes" });
  axes.append(el("line", { x1: M.left, y1: H - M.bottom, x2: W - M.right, y2: H - M.bottom }));
  axes.append(el("line", { x1: M.left, y1: M.top, x2: M.left, y2: H - M.bottom }));
  for (let e = Math.ceil(xlo * 2) / 2; e <= xhi; e += 0.5) {
    const x = px(e);
    axes.append(el("line", { x1: x, y1: H - M.bottom, x2: x, y2: H - M.bottom + 5 }));
    axes.append(el("text", { x, y: H - M.bottom + 18, "text-anchor": "middle" }, formatParams(10 ** e)));
  }
  for (const t of niceTicks(ylo, yhi)) {
    const y = py(t);
    axes.append(el("line", { x1: M.left - 5, y1: y, x2: M.left, y2: y }));
    axes.append(el("text", { x: M.left - 8, y: y + 4, "text-anchor": "end" }, String(+t.toPrecision(4))));
  }
  axes.append(el("text", { x: (M.left + W - M.right) / 2, y: H - M.bottom + 38, "text-anchor": "middle" }, "parameters (log scale)"));
  axes.append(el("text", { x: 16, y: (M.top + H - M.bottom) / 2, "text-anchor": "middle", transform: `rotate(-90 16 ${(M.top + H - M.bottom) / 2})` }, label));
  svg.append(axes);

  if (chance != null) {
    svg.append(el("line", { class: "chance", x1: M.left, y1: py(chance), x2: W - M.right, y2: py(chance) }));
  }
  const series = el("g", { class: "series" });
  const sorted = [...points].sort((a, b) => a.parameters - b.parameters);
  series.append(el("polyline", { points: sorted.map((p) => `${px(Math.log10(p.parameters))},${py(p.mean)}`).join(" ") }));
  for (const p of sorted) {
    const x = px(Math.log10(p.parameters));
    const sem = p.sem || 0;
    series.append(el("line", { class: "error-bar", x1: x, y1: py(p.mean - sem), x2: x, y2: py(p.mean + sem) }));
    series.append(el("line", { class: "error-bar", x1: x - 5, y1: py(p.mean - sem), x2: x + 5, y2: py(p.mean - sem) }));
    series.append(el("line", { class: "error-bar", x1: x - 5, y1: py(p.mean + sem), x2: x + 5, y2: py(p.mean + sem) }));
    const dot = el("circle", { cx: x, cy: py(p.mean), r: 4 });
    dot.append(el("title", {}, `${p.name}: ${p.mean.toFixed(4)} ± ${sem.toFixed(4)}`));
    series.append(dot);
    series.append(el("text", { x: x + 7, y: py(p.mean) - 7, class: "point-label" }, p.name));
  }
  svg.append(series);

  const legend = el("g", { class: "legend", transform: `translate(${M.left}, ${H - 26})` });
  legend.append(el("circle", { cx: 6, cy: -4, r: 4 }));
  const direction = lowerIsBetter == null ? "" : ` (${lowerIsBetter ? "lower" : "higher"} is better)`;
  legend.append(el("text", { x: 16, y: 0 }, `${label} ± standard error${direction}`));
  if (chance != null) {
    legend.append(el("line", { class: "chance", x1: 330, y1: -4, x2: 360, y2: -4 }));
    legend.append(el("text", { x: 366, y: 0 }, "chance"));
  }
  svg.append(legend);
  if (verdict) svg.append(el("text", { class: "verdict", x: M.left + 8, y: M.top + 14 }, verdict));
}
