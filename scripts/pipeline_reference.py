"""The Inverse Scaling Prize pipeline's semantics in PyTorch + transformers (CPU, float32).

A library, not a script: scripts/make_fixtures.py (reference outputs of the test fixtures),
scripts/reference_eval.py (reference scoring of any task file / model folder) and the
benchmark generators import it from the scripts/ directory (Python puts a script's own
directory on sys.path, so `from pipeline_reference import ...` works from any of them).

Semantics (eval_pipeline/models.py, HFModel, of the prize's evaluation pipeline):
  tok(s): GPT-2 BPE ids, no BOS, no padding.  lp(ctx, cont) = sum over the last L = len(tok(cont))
  positions t of ids = tok(ctx + cont) of log_softmax(logits[t-1])[ids[t]] (float32, full vocab),
  one forward pass per prompt+class.
  classification: s_j = lp(prompt, classes[j]); loss = -log_softmax(s)[answer]; correct = argmax(s)
  == answer (first max wins); predicted = classes[argmax s]; total_logprob = logsumexp(s).
  sequence_prob: loss = -lp(prompt, completion).
  logodds / absolute_logodds: c_k = tok(classes[k])[-1]; z = last-position logits of tok(prompt);
  lo = log_softmax([z[c0], z[c1]])[0] - [1]; d = lo(prompt) - lo(other_prompt), negated when
  answer_index == 1, |d| for absolute_logodds; correct = argmax(z_other[c0], z_other[c1]) ==
  answer; total_logprob = logsumexp(logsumexp_c logp_prompt[c], logsumexp_c logp_other[c]).
  Truncation modes: "pipeline" keeps the first 1023 tokens (what the prize pipeline's tokenizer
  with model_max_length=1023 did) and then scores the last L positions of what is left;
  "keep-scored" keeps the last n_positions (1024) tokens when longer (a BOS stays first).
  OPT's tokenizer puts its BOS `</s>` before every text; class lengths leave it out (the
  pipeline's correction_for_start_token).  For logodds both prompt
  and other_prompt are truncated (the classes are not appended there).
  Per-class sums are float32 (as the pipeline); the small reductions over classes are float64.

Task files (the prize's formats): CSV with or without pandas' unnamed index column (other
unknown columns are ignored too), CRLF or LF, optional UTF-8 BOM; JSONL; a JSON array.  Old
column names: `filled_template` -> prompt, `biased_prompt` -> other_prompt, `answer_ix` ->
answer_index (the first column of a given meaning wins).  `classes` is a Python list literal
(ast.literal_eval) or a JSON array (a string holding one, or a real array in JSON files).
"""
from __future__ import annotations

import ast
import csv
import io
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

N_POSITIONS = 1024
PIPELINE_MAX_LEN = 1023
VOCAB = 50257
EOT = 50256

TASK_TYPES = ("classification", "sequence_prob", "logodds", "absolute_logodds")
TYPE_ALIASES = {"classification_loss": "classification", "classification_acc": "classification"}
RESULT_COLUMNS = {
    "classification": ["index", "loss", "correct", "predicted", "total_logprob"],
    "sequence_prob": ["index", "loss"],
    "logodds": ["index", "logodds_difference", "correct", "total_logprob"],
    "absolute_logodds": ["index", "logodds_difference", "correct", "total_logprob"],
}
COLUMN_ALIASES = {
    "prompt": "prompt",
    "filled_template": "prompt",
    "other_prompt": "other_prompt",
    "biased_prompt": "other_prompt",
    "classes": "classes",
    "answer_index": "answer_index",
    "answer_ix": "answer_index",
    "completion": "completion",
}


# ----------------------------------------------------------------------------------------------
# Tokenizer and model
# ----------------------------------------------------------------------------------------------

def encode(fast, text: str) -> list[int]:
    return fast(text, add_special_tokens=True)["input_ids"]


def load_tokenizer(model_dir: Path):
    """The model folder's tokenizer.json as a transformers GPT2TokenizerFast (no BOS added)."""
    from transformers import GPT2TokenizerFast

    fast = GPT2TokenizerFast(tokenizer_file=str(Path(model_dir) / "tokenizer.json"))
    assert len(fast) == VOCAB, len(fast)
    return fast


def config_dict(n_layer, n_embd, n_head, **changes):
    """A GPT-2 config.json; `changes` set other values of its fields (or add fields)."""
    config = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": EOT,
        "embd_pdrop": 0.1,
        "eos_token_id": EOT,
        "initializer_range": 0.02,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": N_POSITIONS,
        "n_embd": n_embd,
        "n_head": n_head,
        "n_inner": None,
        "n_layer": n_layer,
        "n_positions": N_POSITIONS,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": True,
        "vocab_size": VOCAB,
    }
    config.update(changes)
    return config


def neox_config_dict(n_layer, hidden_size, n_head, **changes):
    """A GPT-NeoX (Pythia) config.json, its fields as Pythia's; `changes` set others."""
    config = {
        "architectures": ["GPTNeoXForCausalLM"],
        "bos_token_id": 0,
        "eos_token_id": 0,
        "hidden_act": "gelu",
        "hidden_size": hidden_size,
        "initializer_range": 0.02,
        "intermediate_size": 4 * hidden_size,
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": 2048,
        "model_type": "gpt_neox",
        "num_attention_heads": n_head,
        "num_hidden_layers": n_layer,
        "rotary_emb_base": 10000,
        "rotary_pct": 0.25,
        "tie_word_embeddings": False,
        "use_cache": True,
        "use_parallel_residual": True,
        "vocab_size": 50304,
    }
    config.update(changes)
    return config


def context_length(config) -> int:
    """Longest sequence a transformers config's model reads."""
    return getattr(config, "n_positions", None) or config.max_position_embeddings


def load_gpt2(d: Path):
    """GPT2LMHeadModel.from_pretrained(d) in float32 with eager attention, in eval mode.

    Returns (model, loading_info).  Exits when a real weight (anything but the tied lm_head and
    the attention buffers) was missing or had the wrong shape.
    """
    from transformers import GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = GPT2LMHeadModel.from_pretrained(
            str(d), torch_dtype=torch.float32, attn_implementation="eager",
            output_loading_info=True,
        )
    model.eval()
    missing = [k for k in info.get("missing_keys", []) if not k.endswith("lm_head.weight")
               and not k.endswith("attn.bias") and not k.endswith("attn.masked_bias")]
    if missing:
        sys.exit(f"{Path(d).name}: from_pretrained missed real weights: {missing}")
    mism = info.get("mismatched_keys", [])
    if mism:
        sys.exit(f"{Path(d).name}: mismatched shapes: {mism}")
    return model, info


# ----------------------------------------------------------------------------------------------
# Task files
# ----------------------------------------------------------------------------------------------

def py_list_literal(classes):
    # Python's repr of a list of str: single quotes unless the item contains one.
    s = repr(list(classes))
    assert ast.literal_eval(s) == list(classes)
    return s


def write_csv(path: Path, header, rows, index_col: bool, line_end: str):
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator=line_end, quoting=csv.QUOTE_MINIMAL)
    w.writerow(([""] if index_col else []) + list(header))
    for i, r in enumerate(rows):
        w.writerow(([i] if index_col else []) + list(r))
    path.write_bytes(buf.getvalue().encode("utf-8"))


def _records(path: Path):
    """[(row label for messages, {canonical column: value})] and the canonical columns present."""
    text = Path(path).read_bytes().decode("utf-8-sig")
    first = text.lstrip()[:1]
    if first in ("{", "["):
        if first == "[":
            items = [(f"item {i + 1}", o) for i, o in enumerate(json.loads(text))]
        else:
            items = [(f"line {i + 1}", json.loads(l)) for i, l in enumerate(text.split("\n"))
                     if l.strip()]
        recs, columns = [], []
        for label, obj in items:
            if not isinstance(obj, dict):
                sys.exit(f"{path}: {label}: expected a JSON object")
            rec = {}
            for k, v in obj.items():
                c = COLUMN_ALIASES.get(k.strip())
                if c is not None and c not in rec:
                    rec[c] = v
            if not recs:
                columns = list(rec)
            recs.append((label, rec))
        return recs, columns
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    slots, columns = [], []
    for name in header:
        c = COLUMN_ALIASES.get(name.strip())
        if c in columns:
            c = None
        if c is not None:
            columns.append(c)
        slots.append(c)
    recs = []
    for cells in reader:
        label = f"row {reader.line_num}"  # physical line where the record ends
        if not cells or (len(cells) == 1 and not cells[0].strip() and len(header) > 1):
            continue
        if len(cells) != len(header):
            sys.exit(f"{path}: {label}: {len(cells)} cells but the header has {len(header)}")
        recs.append((label, {c: v for c, v in zip(slots, cells) if c is not None}))
    return recs, columns


def parse_classes(value):
    if isinstance(value, list):
        out = value
    else:
        s = str(value).strip()
        try:
            out = json.loads(s)
        except ValueError:
            out = ast.literal_eval(s)
    out = list(out)
    assert all(isinstance(c, str) for c in out), out
    return out


def parse_index(value) -> int:
    if isinstance(value, str):
        value = value.strip()
        try:
            return int(value)
        except ValueError:
            value = float(value)
    if isinstance(value, float):
        assert value.is_integer(), value
        return int(value)
    return int(value)


def infer_type(columns) -> str:
    if "other_prompt" in columns:
        return "logodds"
    if "classes" in columns:
        return "classification"
    if "completion" in columns:
        return "sequence_prob"
    sys.exit(f"cannot infer the task type from the columns {columns}")


def read_task(path: Path, task_type: str | None = None):
    """(task_type, [example dicts]) with the canonical keys make_fixtures' tasks use."""
    recs, columns = _records(path)
    tt = TYPE_ALIASES.get(task_type, task_type) if task_type else infer_type(columns)
    if tt not in TASK_TYPES:
        sys.exit(f"unknown task type {task_type!r}")
    rows = []
    for label, r in recs:
        try:
            if tt == "sequence_prob":
                e = dict(prompt=str(r["prompt"]), completion=str(r["completion"]))
            else:
                e = dict(prompt=str(r["prompt"]))
                if tt != "classification":
                    e["other_prompt"] = str(r["other_prompt"])
                e["classes"] = parse_classes(r["classes"])
                e["answer_index"] = parse_index(r["answer_index"])
                n = 2 if tt != "classification" else len(e["classes"])
                assert len(e["classes"]) == n and n >= 2, e["classes"]
                assert 0 <= e["answer_index"] < n, e["answer_index"]
        except (KeyError, ValueError, SyntaxError, AssertionError) as err:
            sys.exit(f"{path}: {label}: bad example ({type(err).__name__}: {err})")
        rows.append(e)
    return tt, rows


def results_csv(task_type: str, results) -> str:
    """The pipeline's per-model results CSV, as main.run_model's csv.DictWriter writes it:
    CRLF line ends, `correct` as int(...) (1/0), floats as Python's repr."""
    buf = io.StringIO(newline="")
    cols = RESULT_COLUMNS[task_type]
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    for r in results:
        w.writerow({c: int(r[c]) if isinstance(r[c], bool) else r[c] for c in cols})
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------
# Scoring
# ----------------------------------------------------------------------------------------------

class Scorer:
    """One forward pass per distinct token sequence.

    cache: keep every sequence's logits (fine for the tiny fixtures, not for real models);
    track_top1: record next-token top-1 probabilities (a summary for the fixtures);
    check_pipeline: in "pipeline" mode, also tokenize with truncation=True, max_length=1023
    and assert it gives the same ids (a second tokenization; off when timing).
    """

    def __init__(self, model, fast, cache=True, track_top1=True, check_pipeline=True):
        self.model = model
        self.n_positions = context_length(model.config)
        self.vocab = model.config.vocab_size
        # The pipeline's correction_for_start_token: 1 where the tokenizer puts a BOS before
        # every text (OPT's), whose class lengths leave it out.
        self.correction = len(encode(fast, ""))
        self.fast = fast
        self.cache = {} if cache else None
        self.top1 = []  # next-token top-1 probabilities seen (for the summary)
        self.track_top1 = track_top1
        self.check_pipeline = check_pipeline

    def logits(self, ids):
        key = tuple(ids)
        if self.cache is None or key not in self.cache:
            assert 0 < len(ids) <= self.n_positions
            with torch.no_grad():
                out = self.model(input_ids=torch.tensor([ids], dtype=torch.long))
            lg = out.logits[0].to(torch.float32)
            assert lg.shape == (len(ids), self.vocab)
            if self.track_top1:
                self.top1.extend(torch.softmax(lg, -1).max(-1).values.tolist())
            if self.cache is None:
                return lg
            self.cache[key] = lg
        return self.cache[key]

    def truncate(self, ids, mode):
        """"pipeline": the first 1023 tokens (fewer where the model reads fewer); "keep-scored":
        the last n_positions."""
        if mode == "pipeline":
            most = min(PIPELINE_MAX_LEN, self.n_positions)
            return ids[:most], len(ids) > most
        if len(ids) > self.n_positions:
            c = self.correction  # the BOS stays
            return ids[:c] + ids[len(ids) - (self.n_positions - c):], True
        return ids, False

    def truncate_text(self, text, mode):
        ids, truncated = self.truncate(encode(self.fast, text), mode)
        if mode == "pipeline" and self.check_pipeline and self.n_positions >= PIPELINE_MAX_LEN:
            # what the prize pipeline's tokenizer call (model_max_length=1023, truncation=True) gives
            hf = self.fast(text, truncation=True, max_length=PIPELINE_MAX_LEN)["input_ids"]
            assert hf == ids, "pipeline truncation mismatch"
        return ids, truncated

    def lp(self, ctx, cont, mode):
        """float32 sum of the last L token log-probs, L = len(tok(cont)); returns (sum, truncated)."""
        ids, truncated = self.truncate_text(ctx + cont, mode)
        L = len(encode(self.fast, cont)) - self.correction
        assert 1 <= L < len(ids), (L, len(ids))
        lp = torch.log_softmax(self.logits(ids)[-L - 1:-1], dim=-1)
        toks = ids[-L:]
        total = torch.zeros((), dtype=torch.float32)
        for t, tok in enumerate(toks):
            total = total + lp[t, tok]
        return float(total.item()), truncated

    def last_logits(self, prompt, mode):
        ids, truncated = self.truncate_text(prompt, mode)
        return self.logits(ids)[-1], truncated


def logsumexp64(xs):
    a = np.asarray(xs, dtype=np.float64)
    m = a.max()
    return float(m + np.log(np.exp(a - m).sum()))


def score_classification(sc, rows, mode):
    res = []
    for i, e in enumerate(rows):
        s, tr = [], False
        for c in e["classes"]:
            v, t = sc.lp(e["prompt"], c, mode)
            s.append(v)
            tr = tr or t
        s64 = np.asarray(s, dtype=np.float64)
        lse = logsumexp64(s64)
        norm = s64 - lse
        am = int(np.argmax(s64))
        res.append({
            "index": i,
            "loss": float(-norm[e["answer_index"]]),
            "correct": am == e["answer_index"],
            "predicted": e["classes"][am],
            "total_logprob": lse,
            "class_logprobs": s,
            "truncated": tr,
        })
    return res


def score_sequence_prob(sc, rows, mode):
    res = []
    for i, e in enumerate(rows):
        v, tr = sc.lp(e["prompt"], e["completion"], mode)
        res.append({"index": i, "loss": -v, "truncated": tr})
    return res


def score_logodds(sc, rows, mode, absolute):
    res = []
    for i, e in enumerate(rows):
        c = [encode(sc.fast, k)[-1] for k in e["classes"]]
        assert len(c) == 2
        z, t1 = sc.last_logits(e["prompt"], mode)
        zo, t2 = sc.last_logits(e["other_prompt"], mode)

        def lo(zz):
            pair = np.asarray([zz[c[0]].item(), zz[c[1]].item()], dtype=np.float64)
            ls = pair - logsumexp64(pair)
            return float(ls[0] - ls[1])

        d = lo(z) - lo(zo)
        if e["answer_index"] == 1:
            d = -d
        if absolute:
            d = abs(d)
        pair_o = [zo[c[0]].item(), zo[c[1]].item()]
        correct = int(np.argmax(np.asarray(pair_o, dtype=np.float64))) == e["answer_index"]
        lp_p = torch.log_softmax(z, -1)
        lp_o = torch.log_softmax(zo, -1)
        tot_p = logsumexp64([lp_p[k].item() for k in c])
        tot_o = logsumexp64([lp_o[k].item() for k in c])
        res.append({
            "index": i,
            "logodds_difference": d,
            "correct": correct,
            "total_logprob": logsumexp64([tot_p, tot_o]),
            "truncated": t1 or t2,
        })
    return res


def score_task(sc, task_type, rows, mode):
    if task_type == "classification":
        return score_classification(sc, rows, mode)
    if task_type == "sequence_prob":
        return score_sequence_prob(sc, rows, mode)
    return score_logodds(sc, rows, mode, absolute=(task_type == "absolute_logodds"))
