// @ts-check
// The results plots: the main metric against parameter count (log x), one line per family,
// or against training step (log x), one line per model; one point per model or checkpoint
// with standard-error bars, and the chance baseline. Built with DOM calls only: model names
// are text nodes, never markup.
import { formatParams, formatStep } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 380, M = { left: 70, right: 20, top: 20, bottom: 80 };

/**
 * @param {string} name
 * @param {Object<string, string | number>} [attrs]
 * @param {string} [text]
 */
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

/** Parameter count on a log axis, ticks every half decade. */
export const SIZE_AXIS = {
  of: (p) => Math.log10(p.parameters),
  label: "parameters (log scale)",
  ticks(lo, hi) {
    const ticks = [];
    for (let e = Math.ceil(lo * 2) / 2; e <= hi; e += 0.5) ticks.push({ at: e, text: formatParams(10 ** e) });
    return ticks;
  },
};

/** Training step on a log axis that keeps step 0 (at log10(1 + step)), ticks every decade (and at 2 and 5 within a short span). */
export const STEP_AXIS = {
  of: (p) => Math.log10(1 + p.step),
  label: "training step (log scale)",
  ticks(lo, hi) {
    const ticks = lo <= 0 ? [{ at: 0, text: "0" }] : [];
    const within = hi - lo < 1.5 ? [1, 2, 5] : [1];
    for (let e = 0; Math.log10(1 + 10 ** e) <= hi; e++) {
      for (const m of within) {
        const at = Math.log10(1 + m * 10 ** e);
        if (at >= lo && at <= hi) ticks.push({ at, text: formatStep(m * 10 ** e) });
      }
    }
    return ticks;
  },
};

/**
 * Draws `series` = [{name, verdict, points: [{name, parameters, step?, mean, sem}]}] into
 * `svg`, each series a line of its own colour, along `axis` (`SIZE_AXIS` or `STEP_AXIS`).
 * `label` names the metric, `lowerIsBetter` (true, false, or null for neither) goes in the
 * legend, `chance` (or null) is drawn as a dashed line, `verdict` (a short text, or null) is
 * written in the top left corner. With several series the legend names each, with its own
 * verdict.
 * @param {Element} svg
 */
export function drawPlot(svg, { series, axis = SIZE_AXIS, label, lowerIsBetter, chance, verdict }) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) return;
  const legendRows = series.length > 1 ? series.length : 0;
  const bottom = M.bottom + 18 * legendRows;
  const height = H + 18 * legendRows;
  svg.setAttribute("viewBox", `0 0 ${W} ${height}`);
  const xs = points.map(axis.of);
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
  const py = (y) => height - bottom - ((y - ylo) / (yhi - ylo)) * (height - M.top - bottom);
  const base = height - bottom;

  const axes = el("g", { class: "axes" });
  axes.append(el("line", { x1: M.left, y1: base, x2: W - M.right, y2: base }));
  axes.append(el("line", { x1: M.left, y1: M.top, x2: M.left, y2: base }));
  for (const tick of axis.ticks(xlo, xhi)) {
    const x = px(tick.at);
    axes.append(el("line", { x1: x, y1: base, x2: x, y2: base + 5 }));
    axes.append(el("text", { x, y: base + 18, "text-anchor": "middle" }, tick.text));
  }
  for (const t of niceTicks(ylo, yhi)) {
    const y = py(t);
    axes.append(el("line", { x1: M.left - 5, y1: y, x2: M.left, y2: y }));
    axes.append(el("text", { x: M.left - 8, y: y + 4, "text-anchor": "end" }, String(+t.toPrecision(4))));
  }
  axes.append(el("text", { x: (M.left + W - M.right) / 2, y: base + 38, "text-anchor": "middle" }, axis.label));
  axes.append(el("text", { x: 16, y: (M.top + base) / 2, "text-anchor": "middle", transform: `rotate(-90 16 ${(M.top + base) / 2})` }, label));
  svg.append(axes);

  if (chance != null) {
    svg.append(el("line", { class: "chance", x1: M.left, y1: py(chance), x2: W - M.right, y2: py(chance) }));
  }
  series.forEach((s, i) => {
    const g = el("g", { class: `series series-${i % 6}`, "data-series": s.name });
    const sorted = [...s.points].sort((a, b) => axis.of(a) - axis.of(b));
    g.append(el("polyline", { points: sorted.map((p) => `${px(axis.of(p))},${py(p.mean)}`).join(" ") }));
    for (const p of sorted) {
      const x = px(axis.of(p));
      const sem = p.sem || 0;
      g.append(el("line", { class: "error-bar", x1: x, y1: py(p.mean - sem), x2: x, y2: py(p.mean + sem) }));
      g.append(el("line", { class: "error-bar", x1: x - 5, y1: py(p.mean - sem), x2: x + 5, y2: py(p.mean - sem) }));
      g.append(el("line", { class: "error-bar", x1: x - 5, y1: py(p.mean + sem), x2: x + 5, y2: py(p.mean + sem) }));
      const dot = el("circle", { cx: x, cy: py(p.mean), r: 5, "data-model": p.name, class: "point" });
      dot.append(el("title", {}, `${p.name}: ${p.mean.toFixed(4)} ± ${sem.toFixed(4)}`));
      g.append(dot);
      // Along steps the line is the model: its points are labelled by step, not by name.
      const text = axis === STEP_AXIS ? formatStep(p.step) : p.name;
      // Near the right edge a label reads leftwards, so it stays inside the plot.
      const leftwards = x > W - 140;
      g.append(el("text", { x: leftwards ? x - 7 : x + 7, y: py(p.mean) - 7, class: "point-label", "data-model": p.name, "text-anchor": leftwards ? "end" : "start" }, text));
    }
    svg.append(g);
  });

  const legend = el("g", { class: "legend", transform: `translate(${M.left}, ${height - 26 - 18 * legendRows})` });
  const direction = lowerIsBetter == null ? "" : ` (${lowerIsBetter ? "lower" : "higher"} is better)`;
  if (legendRows === 0) legend.append(el("circle", { cx: 6, cy: -4, r: 4 }));
  legend.append(el("text", { x: legendRows ? 0 : 16, y: 0 }, `${label} ± standard error${direction}`));
  if (chance != null) {
    legend.append(el("line", { class: "chance", x1: 330, y1: -4, x2: 360, y2: -4 }));
    legend.append(el("text", { x: 366, y: 0 }, "chance"));
  }
  series.forEach((s, i) => {
    if (!legendRows) return;
    const row = el("g", { class: `series series-${i % 6}`, transform: `translate(0, ${18 * (i + 1)})` });
    row.append(el("circle", { cx: 6, cy: -4, r: 4 }), el("text", { x: 16, y: 0 }, s.verdict ? `${s.name}: ${s.verdict}` : s.name));
    legend.append(row);
  });
  svg.append(legend);
  if (verdict) svg.append(el("text", { class: "verdict", x: M.left + 8, y: M.top + 14 }, verdict));
}
