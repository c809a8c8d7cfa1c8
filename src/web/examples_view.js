// @ts-check
// The examples view: the text every prompt shares, shown once; each example's own text (its
// full prompt a click away), each model's numbers and a sparkline of the metric from the
// smallest model to the largest. Sorting and filtering lead a learner to the examples that
// scale inversely: how each example moved with size comes from the wasm module
// (`PageEvaluation.report`'s `examples`), which the page only orders and draws.
import { fmt } from "./format.js";
import { $, PAGE_SIZE, modelLabel, node, shownReports, state } from "./page.js";

const SVG = "http://www.w3.org/2000/svg";

/** What each choice of "Show" keeps, and in which order (`c` is an example's change). */
const ORDERS = {
  all: { keep: () => true },
  worse: { keep: (c) => c.change != null && c.change > 0, by: (c) => -c.change },
  better: { keep: (c) => c.change != null && c.change < 0, by: (c) => c.change },
  disagree: { keep: (c) => c.disagree },
  wrong: { keep: (c) => c.wrong_under_all },
};

/** The examples the chosen order and answer class keep, as task indices, in order. */
export function shownExamples() {
  const view = state.shown.view;
  const changes = state.examples?.examples ?? [];
  const order = ORDERS[$("example-order").value] ?? ORDERS.all;
  const answer = $("example-class").value;
  let indices = view.examples.map((_, i) => i);
  if (answer) indices = indices.filter((i) => answerOf(view.examples[i]) === answer);
  if (order === ORDERS.all || changes.length === 0) return indices;
  indices = indices.filter((i) => changes[i] && order.keep(changes[i]));
  if (order.by) indices.sort((a, b) => order.by(changes[a]) - order.by(changes[b]));
  return indices;
}

function answerOf(example) {
  return example.classes ? example.classes[example.answer_index] : null;
}

/** The answer classes a filter can pick (when the task has a handful, as most do). */
export function renderClassFilter() {
  const select = $("example-class");
  const chosen = select.value;
  const answers = [...new Set(state.shown.view.examples.map(answerOf).filter((a) => a != null))];
  select.replaceChildren(node("option", "any answer", { value: "" }));
  if (answers.length > 30) return;
  for (const a of answers) select.append(node("option", `answer ${JSON.stringify(a)}`, { value: a }));
  select.value = answers.includes(chosen) ? chosen : "";
}

/** The reports whose columns the table shows: every model, or the one picked on the plot. */
function shownColumns() {
  const all = shownReports();
  const focused = all.filter((r) => r.name === state.focusModel);
  return focused.length ? focused : all;
}

/**
 * Shows only `name`'s column (null: every model's), e.g. after a click on its point.
 * @param {string | null} name
 */
export function focusModel(name) {
  state.focusModel = name;
  state.page = 0;
  renderExamples();
  $("examples-heading").scrollIntoView?.({ block: "start" });
}

export function renderExamples() {
  const view = state.shown.view;
  const shared = view.shared_prompt ?? "";
  $("shared-prompt").hidden = shared === "";
  $("shared-prompt-text").textContent = shared;
  $("shared-prompt-summary").textContent = `Every prompt starts with the same ${shared.split("\n").length - 1} line(s); each row shows what follows`;
  const focus = shownColumns().length === 1 && state.focusModel;
  $("focus-status").hidden = !focus;
  $("focus-text").textContent = focus ? `Showing ${state.focusModel} only.` : "";

  const indices = shownExamples();
  const pages = Math.max(1, Math.ceil(indices.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages - 1);
  $("page-label").textContent = `page ${state.page + 1} of ${pages} · ${indices.length} of ${view.examples.length} examples`;
  $("page-prev").disabled = state.page === 0;
  $("page-next").disabled = state.page >= pages - 1;
  const table = $("examples-table");
  table.replaceChildren();
  const head = node("tr");
  const type = view.task_type;
  const inputs = {
    sequence_prob: ["row", "prompt", "completion"],
    classification: ["row", "prompt", "classes"],
    numeric: ["row", "prompt", "true answer", "anchor"],
  }[type] ?? ["row", "prompt", "other prompt", "classes"];
  for (const h of inputs) head.append(node("th", h));
  const sparkline = (state.examples?.models.length ?? 0) > 1;
  if (sparkline) head.append(node("th", `${view.metric}, smallest → largest`));
  const columns = shownColumns();
  for (const r of columns) head.append(node("th", type === "classification" ? `${modelLabel(r)}: P(class)` : modelLabel(r)));
  table.appendChild(node("thead")).append(head);
  const body = table.appendChild(node("tbody"));
  for (const i of indices.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE)) {
    const ex = view.examples[i];
    const tr = body.appendChild(node("tr", undefined, { "data-index": String(i) }));
    tr.append(node("td", ex.row), promptCell(ex, shared));
    if (type === "sequence_prob") tr.append(node("td", ex.completion, { class: "text" }));
    if (type === "numeric") tr.append(node("td", String(ex.true_answer)), node("td", String(ex.anchor)));
    if (ex.other_prompt !== undefined) tr.append(node("td", ex.other_prompt, { class: "text" }));
    if (ex.classes) {
      const list = node("ol", undefined, { start: "0" });
      ex.classes.forEach((c, j) => list.append(node("li", JSON.stringify(c), j === ex.answer_index ? { class: "answer" } : {})));
      tr.appendChild(node("td")).append(list);
    }
    if (sparkline) tr.appendChild(node("td", undefined, { class: "spark" })).append(drawSparkline(state.examples, i));
    for (const r of columns) tr.append(scoreCell(r.rows.find((x) => x.index === i)));
  }
}

/** How much of an example's own text is shown before the rest folds away (its full prompt a click away). */
const SHOWN_LINES = 8;
const SHOWN_CHARACTERS = 480;

/** The end of `text` that fits what is shown, or null when all of it does. */
function shownEnd(text) {
  const lines = text.split("\n");
  let end = lines.length > SHOWN_LINES ? lines.slice(-SHOWN_LINES).join("\n") : text;
  const characters = Array.from(end);
  if (characters.length > SHOWN_CHARACTERS) end = characters.slice(-SHOWN_CHARACTERS).join("");
  return end === text ? null : end;
}

/** The example's own text (its end when long: where examples differ); the full prompt behind a disclosure. */
function promptCell(ex, shared) {
  const cell = node("td", undefined, { class: "text" });
  const own = shared ? ex.own_prompt : ex.prompt;
  const end = shownEnd(own);
  if (!shared && end === null) {
    cell.textContent = ex.prompt;
    return cell;
  }
  cell.append(node("span", end === null ? own : `… ${end}`));
  const full = node("details");
  full.append(node("summary", `full prompt (${Array.from(ex.prompt).length} characters)`), node("div", ex.prompt, { class: "full-prompt" }));
  cell.append(full);
  return cell;
}

function scoreCell(row) {
  const cell = node("td", undefined, { class: "score" });
  if (!row) return cell;
  if (row.class_probabilities) {
    const list = node("ol", undefined, { start: "0" });
    row.class_probabilities.forEach((p) => list.append(node("li", p.toFixed(3))));
    cell.append(list);
  } else if (row.samples) {
    cell.append(node("div", `estimate ${row.estimate == null ? "none" : fmt(row.estimate, 2)}`));
    cell.append(node("div", row.samples.map((s) => JSON.stringify(s)).join(" · "), { class: "note" }));
  } else if (row.logodds_difference !== undefined) {
    cell.append(node("div", `Δ logodds ${fmt(row.logodds_difference)}`));
  } else {
    cell.append(node("div", `loss ${fmt(row.loss)}`));
  }
  if (row.correct !== undefined) cell.append(node("div", row.correct ? "✓ correct" : "✗ wrong", { class: row.correct ? "correct" : "wrong" }));
  if (row.truncated) cell.append(node("div", "truncated", { class: "note" }));
  return cell;
}

/** A small line of example `i`'s metric under each model, in order of size, with its change. */
function drawSparkline(examples, i) {
  const change = examples.examples[i];
  const [w, h, pad] = [90, 24, 3];
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(h));
  svg.setAttribute("class", change.change > 0 ? "sparkline worse" : "sparkline");
  const values = change.values.map((v, k) => [k, v]).filter(([, v]) => v != null);
  const title = document.createElementNS(SVG, "title");
  title.textContent = examples.models.map((m, k) => `${m}: ${fmt(change.values[k])}`).join("\n");
  svg.append(title);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", change.change == null ? "no change" : `from ${fmt(values[0][1])} to ${fmt(values.at(-1)[1])}`);
  if (values.length < 2) return svg;
  const ys = values.map(([, v]) => v);
  const [lo, hi] = [Math.min(...ys), Math.max(...ys)];
  const x = (k) => pad + (k / (change.values.length - 1)) * (w - 2 * pad);
  // Higher on the sparkline is a larger value: for a loss, worse.
  const y = (v) => h - pad - (hi === lo ? 0.5 : (v - lo) / (hi - lo)) * (h - 2 * pad);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", values.map(([k, v]) => `${x(k)},${y(v)}`).join(" "));
  svg.append(line);
  return svg;
}
