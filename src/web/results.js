// @ts-check
// The results: plot, verdict, summary table and the examples, paged. Every number comes from
// the worker's reports.
import { comparisonLayers } from "./comparison.js";
import { focusModel, renderClassFilter, renderExamples } from "./examples_view.js";
import { fmt, formatParams, formatStep, percent } from "./format.js";
import { $, modelLabel, node, shownReports, state } from "./page.js";
import { STEP_AXIS, drawPlot } from "./plot.js";
import { publishedFor } from "./task_picker.js";

export function renderResults() {
  const first = state.reports[0] ?? state.partials?.[0];
  if (!first) return;
  $("results").hidden = false;
  const label = { loss: "mean loss", logodds_difference: "mean logodds difference", estimate: "mean estimate" }[first.metric];
  const plotted = { label, lowerIsBetter: first.metric === "estimate" ? null : true, chance: first.chance_loss ?? null };
  const chanceNote = first.chance_loss != null ? `The dashed line is the loss of guessing uniformly among the classes (${fmt(first.chance_loss)}).` : "";
  const point = (r) => ({ name: r.name, parameters: r.parameters, mean: r.value.mean, sem: r.value.sem });
  const training = state.trends?.training_trends ?? [];
  const checkpoints = new Set(training.flatMap((t) => t.trend.models.map((m) => m.name)));

  // Across sizes: the models that are not checkpoints of a model through training, a line per family.
  const sized = state.reports.filter((r) => !checkpoints.has(r.name));
  const families = [...new Set(sized.map((r) => r.family ?? "models"))];
  const familyTrend = (family) => state.trends?.family_trends?.find((f) => f.family === family)?.trend;
  let series = families.map((family) => {
    const t = familyTrend(family);
    return { name: family, verdict: t ? shortVerdict(t) : null, points: sized.filter((r) => (r.family ?? "models") === family).map(point) };
  });
  // Settings compared: a line per setting instead, each with its own verdict.
  const layers = comparisonLayers();
  if (layers) series = layers.map((l) => ({ name: l.label, verdict: l.trend ? shortVerdict(l.trend) : null, points: l.reports.filter((r) => !checkpoints.has(r.name)).map(point) }));
  $("size-figure").hidden = series.every((s) => s.points.length === 0);
  drawPlot($("plot"), { ...plotted, series, verdict: state.trend && series.length === 1 ? shortVerdict(state.trend) : null });
  const lines = layers ? " One line per setting." : families.length > 1 ? " One line per family." : "";
  $("plot-caption").textContent = `${label} of each model on ${state.shown.name}, against its parameter count.${lines} ${chanceNote}`;

  // Through training: a line per model, its checkpoints along the steps.
  $("training-figure").hidden = training.length === 0;
  if (training.length) {
    const byName = new Map(state.reports.map((r) => [r.name, r]));
    const steps = training.map((t) => ({
      name: t.model,
      verdict: shortVerdict(t.trend),
      points: t.trend.models.map((m) => ({ ...point(byName.get(m.name)), step: m.step })),
    }));
    drawPlot($("training-plot"), { ...plotted, series: steps, axis: STEP_AXIS, verdict: training.length === 1 ? shortVerdict(training[0].trend) : null });
    $("training-caption").textContent = `${label} on ${state.shown.name} against the training step, one line per model. ${chanceNote}`;
  }
  renderVerdict();
  renderSummary(first);
  renderClassFilter();
  renderExamples();
}

/** A click on a model's point shows only that model's numbers in the examples table. */
export function watchPlotClicks() {
  for (const id of ["plot", "training-plot"]) {
    $(id).addEventListener("click", (e) => {
      // The target is an element of the SVG plot; a point and its label carry the model.
      const point = /** @type {SVGElement | null} */ (/** @type {Element} */ (e.target).closest?.("[data-model]"));
      if (point) focusModel(point.dataset.model);
    });
  }
}

function shortVerdict(t) {
  return `${SHAPES[t.verdict].title} (${percent(t.confidence)})`;
}

// What each verdict means, in the words of the rule in src/stats/trend.rs.
export const SHAPES = {
  "inverse": { title: "Inverse scaling", text: "the largest model does worse than the smallest" },
  "positive": { title: "Positive scaling", text: "the largest model does better than the smallest" },
  "u-shaped": { title: "U-shaped scaling", text: "a middle-sized model does worse than both the smallest and the largest" },
  "inverted-u": { title: "Inverted-U scaling", text: "a middle-sized model does better than both the smallest and the largest" },
  "flat": { title: "No clear trend", text: "no model differs from the others by more than chance would explain" },
};

/** The verdict across sizes, then one per family and one per model through training. */
export function renderVerdict() {
  // Settings compared: each setting's verdict is given below instead.
  const t = comparisonLayers() ? null : state.trend;
  const p = $("verdict");
  p.hidden = !t;
  if (t) {
    p.textContent = describeTrend(t, "models");
    p.dataset.verdict = t.verdict;
  }
  const families = $("family-verdicts");
  families.replaceChildren();
  for (const f of state.trends?.family_trends ?? []) {
    families.append(node("p", `${f.family}: ${describeTrend(f.trend, `${f.family} models`)}`, { "data-family": f.family, "data-verdict": f.trend.verdict }));
  }
  const compared = $("comparison-verdicts");
  compared.replaceChildren();
  for (const l of comparisonLayers() ?? []) {
    if (l.trend) compared.append(node("p", `${l.label}: ${describeTrend(l.trend, "models")}`, { "data-setting": l.label, "data-verdict": l.trend.verdict }));
  }
  const training = $("training-verdicts");
  training.replaceChildren();
  for (const m of state.trends?.training_trends ?? []) {
    const steps = m.trend.models.map((c) => formatStep(c.step)).join(", ");
    const text = `${m.model} through training (steps ${steps}): ${describeTrend(m.trend, "checkpoints")}`;
    training.append(node("p", text, { "data-model": m.model, "data-verdict": m.trend.verdict }));
  }
}

/** A trend in words: its verdict, what that means (along sizes or steps), how sure the bootstrap is. */
function describeTrend(t, compared) {
  const others = Object.entries(t.support)
    .filter(([shape, share]) => shape !== t.verdict && share > 0)
    .map(([shape, share]) => `${SHAPES[shape].title.toLowerCase()} ${percent(share)}`);
  const meaning = t.along === "steps" ? STEP_MEANINGS[t.verdict] : SHAPES[t.verdict].text;
  return `${SHAPES[t.verdict].title}: ${meaning}, comparing ${compared} on the same ${t.examples} examples. ` +
    `${percent(t.confidence)} of ${t.replicates} bootstrap resamples of the examples give this verdict` +
    (others.length ? ` (${others.join(", ")}).` : ".");
}

// The same shapes read along training steps.
const STEP_MEANINGS = {
  "inverse": "the last checkpoint does worse than the first",
  "positive": "the last checkpoint does better than the first",
  "u-shaped": "a checkpoint midway through training does worse than both the first and the last",
  "inverted-u": "a checkpoint midway through training does better than both the first and the last",
  "flat": "no checkpoint differs from the others by more than chance would explain",
};

export function renderSummary(first) {
  const table = $("summary-table");
  table.replaceChildren();
  const metric = first.metric;
  const head = node("tr");
  const published = Boolean(state.shown?.published);
  const headers = ["model", "parameters", `mean ${metric} ± s.e.`, "95% interval (bootstrap)", "accuracy ± s.e.", "coverage", "truncated"];
  if (published) headers.push("published loss / accuracy");
  for (const h of headers) head.append(node("th", h));
  table.appendChild(node("thead")).append(head);
  const body = table.appendChild(node("tbody"));
  for (const r of shownReports()) {
    const tr = body.appendChild(node("tr", undefined, r.partial ? { class: "partial" } : {}));
    tr.append(
      node("td", modelLabel(r)),
      node("td", formatParams(r.parameters)),
      node("td", `${fmt(r.value.mean)} ± ${fmt(r.value.sem)}`),
      node("td", interval(r.name)),
      node("td", r.accuracy ? `${fmt(r.accuracy.mean, 3)} ± ${fmt(r.accuracy.sem, 3)}` : "–"),
      node("td", r.coverage != null ? fmt(r.coverage) : "–"),
      node("td", String(r.truncated)),
    );
    if (published) {
      const p = publishedFor(r.name);
      tr.append(node("td", p ? `${fmt(p.loss, 3)} / ${fmt(p.accuracy, 3)}` : "–", { class: "published" }));
    }
  }
  if (first.chance_accuracy != null) {
    const tr = body.appendChild(node("tr", undefined, { class: "chance-row" }));
    tr.append(node("td", "chance"), node("td", ""), node("td", first.chance_loss != null ? fmt(first.chance_loss) : "–"), node("td", ""),
      node("td", fmt(first.chance_accuracy, 3)), node("td", ""), node("td", ""));
  }
}

/**
 * The model's bootstrap interval from its trend (across sizes, or through training), when there is one.
 * @param {string} name
 */
export function interval(name) {
  const trends = [state.trend, ...(state.trends?.training_trends ?? []).map((t) => t.trend)].filter(Boolean);
  const m = trends.flatMap((t) => t.models).find((m) => m.name === name);
  return m ? `${fmt(m.low)} – ${fmt(m.high)}` : "–";
}
