// @ts-check
// The task editor: write a prize-format task as a template with {slots} and a table of
// fillers, or as plain rows; it is checked as you type by the CLI's parser (in the wasm
// module), with the row and column of any mistake, the parser's warnings, the prize's rule on
// the number of examples, and on request each class's token count under a model's tokenizer.
// A checked task is used for a run, exported as CSV or JSONL, or shared as a link that holds
// the task itself, compressed.
import { hubSource, selectedModels } from "./model_picker.js";
import { $, fetchBytes, node, state } from "./page.js";
import { downloadLink } from "./exports.js";
import { setTask } from "./task_picker.js";

/** The prize asked for at least this many examples, and recommended about a thousand. */
const PRIZE_MINIMUM = 300;
const PRIZE_RECOMMENDED = 1000;
/** A link holds the task itself up to this many characters of compressed text. */
const LINK_LIMIT = 8000;
/** Whose tokenizer counts the classes when no Hub model is ticked: the prize's baseline. */
const BASELINE_MODEL = "openai-community/gpt2";

let draft = null;

export function watchEditor() {
  let timer = null;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(() => checkDraft().catch((e) => ($("editor-status").textContent = e.message ?? String(e))), 250);
  };
  for (const id of ["editor-template", "editor-rows", "task-type"]) $(id).addEventListener("input", later);
  for (const radio of document.querySelectorAll('input[name="editor-mode"]')) radio.addEventListener("change", later);
  $("editor-tokens").addEventListener("click", () => countTokens().catch((e) => ($("editor-tokens-status").textContent = e.message ?? String(e))));
  $("editor-use").addEventListener("click", () => useDraft());
}

function mode() {
  return /** @type {HTMLInputElement} */ (document.querySelector('input[name="editor-mode"]:checked')).value;
}

/** Checks the draft with the parser and shows what it says; keeps it when it parses. */
export async function checkDraft() {
  const template = mode() === "template" ? $("editor-template").value : undefined;
  $("editor-template-label").hidden = template === undefined;
  const result = state.wasm.check_task_draft(template, $("editor-rows").value, $("task-type").value || undefined);
  const status = $("editor-status");
  const warnings = $("editor-warnings");
  warnings.replaceChildren();
  $("editor-exports").replaceChildren();
  $("editor-use").disabled = true;
  $("editor-rows").setAttribute("aria-invalid", String(Boolean(result.error)));
  draft = null;
  if (result.error) {
    status.className = "error";
    const where = result.error.row != null && template !== undefined ? " (rows are the fillers table's, its header row 1)" : "";
    status.textContent = `${result.error.message}${where}`;
    return;
  }
  status.className = "";
  const bytes = new TextEncoder().encode(result.task);
  draft = { bytes, text: result.task, type: result.task_type, examples: result.examples };
  status.textContent = `${result.examples} ${result.task_type} examples.`;
  const rule = result.examples < PRIZE_MINIMUM
    ? `The prize asked for at least ${PRIZE_MINIMUM} examples (about ${PRIZE_RECOMMENDED} recommended): this task has ${result.examples}.`
    : result.examples < PRIZE_RECOMMENDED ? `Enough for the prize (${PRIZE_MINIMUM} or more); about ${PRIZE_RECOMMENDED} were recommended.` : null;
  if (rule) warnings.append(node("li", rule, { class: result.examples < PRIZE_MINIMUM ? "prize-rule short" : "prize-rule" }));
  for (const w of result.warnings) warnings.append(node("li", w));
  $("editor-use").disabled = false;
  await showExports();
}

/** Exports of the checked draft: CSV (when it is CSV), JSONL, and a link holding it. */
async function showExports() {
  const exports = $("editor-exports");
  exports.append(node("span", "Export: "));
  const isCsv = !/^\s*[[{]/.test(draft.text);
  if (isCsv) exports.append(downloadLink("task.csv", draft.text, "text/csv"), " ");
  exports.append(downloadLink("task.jsonl", state.wasm.task_jsonl(draft.bytes, $("task-type").value || undefined), "application/jsonl"), " ");
  draft.link = await packTask(draft.bytes);
  if (draft.link.length <= LINK_LIMIT) {
    const params = new URLSearchParams({ "task-data": draft.link });
    if ($("task-type").value) params.set("type", $("task-type").value);
    exports.append(node("a", "link holding this task", { id: "editor-link", href: `${location.origin}${location.pathname}?${params}` }));
  } else {
    exports.append(node("span", `(too large for a link: publish it as a file or a Hub dataset)`, { class: "note" }));
  }
}

/** Takes the checked draft as the task of the next run. */
function useDraft() {
  if (!draft) return;
  const link = draft.link && draft.link.length <= LINK_LIMIT ? { link: { "task-data": draft.link } } : {};
  setTask("written task", draft.bytes, link);
}

/**
 * Each class's token count under the tokenizer of the first ticked Hub model (GPT-2's when
 * none is), with the warnings the counts raise.
 */
async function countTokens() {
  if (!draft) throw new Error("the draft does not parse yet");
  const hubModel = selectedModels().find((m) => !m.source.files);
  const { hub, repo, revision, name } = hubModel ? { ...hubModel.source, name: hubModel.name } : hubSource($("hub").value, BASELINE_MODEL);
  $("editor-tokens-status").textContent = `reading ${name}'s tokenizer…`;
  const tokenizer = await fetchBytes(state.wasm.hub_model_file_url(hub, repo, revision, "tokenizer.json"));
  const counts = state.wasm.task_class_tokens(draft.bytes, $("task-type").value || undefined, tokenizer);
  $("editor-tokens-status").textContent = `tokens per class under ${name}'s tokenizer`;
  const table = $("editor-token-table");
  table.replaceChildren();
  const head = table.appendChild(node("thead")).appendChild(node("tr"));
  head.append(node("th", "example"), node("th", "tokens per class"));
  const body = table.appendChild(node("tbody"));
  counts.examples.slice(0, 20).forEach((n, i) => body.appendChild(node("tr")).append(node("td", String(i + 1)), node("td", n.join(", "))));
  for (const w of counts.warnings) $("editor-warnings").append(node("li", w, { class: "token-warning" }));
}

/**
 * The task's bytes, deflated and in base64url, for a link.
 * @param {Uint8Array<ArrayBuffer>} bytes
 */
export async function packTask(bytes) {
  const deflated = new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate-raw"))).arrayBuffer());
  let binary = "";
  for (const b of deflated) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * The task a link holds (`packTask`'s text).
 * @param {string} text
 */
export async function unpackTask(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const deflated = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  return new Uint8Array(await new Response(new Blob([deflated]).stream().pipeThrough(new DecompressionStream("deflate-raw"))).arrayBuffer());
}
