#!/usr/bin/env python3
"""Reference evaluator: the Inverse Scaling Prize pipeline's semantics in PyTorch + transformers.

Run from the repository root (needs the venv of scripts/requirements-fixtures.txt):

    .venv/bin/python scripts/reference_eval.py --task tests/fixtures/tasks/classification.csv \
        --model tests/fixtures/models/tiny-hub --out /tmp/ref-results \
        [--type classification|sequence_prob|logodds|absolute_logodds] \
        [--truncation keep-scored|pipeline] [--threads N] [--limit N]

The model folder is in the Hub's layout (config.json, model.safetensors, tokenizer.json); it is
loaded with GPT2LMHeadModel.from_pretrained(DIR, torch_dtype=float32), eager attention, eval
mode, on the CPU, and every prompt+class gets its own forward pass under no_grad, exactly as in
scripts/make_fixtures.py's reference outputs (the code is shared: scripts/pipeline_reference.py,
whose docstring gives the semantics).  The task type is inferred from the columns when --type is
omitted (absolute_logodds must be asked for).  --limit N scores only the first N examples.

Writes OUT/<basename of DIR>.csv with the pipeline's columns (classification
`index,loss,correct,predicted,total_logprob`; sequence_prob `index,loss`; logodds and
absolute_logodds `index,logodds_difference,correct,total_logprob`; `correct` as 1/0; floats
as Python's repr, so they round-trip exactly) and prints one JSON line to stdout:

    {"examples": n, "load_seconds": x, "score_seconds": y, "examples_per_second": n / y}

load_seconds covers loading the tokenizer and the model; score_seconds covers tokenization,
the forward passes and the metrics of all examples (not imports, reading the task file or
writing the CSV).  A human-readable summary goes to stderr.

The thread count changes float32 reduction order (log_softmax over the vocabulary), so results
move by ~1e-6 with --threads.  tests/fixtures/reference.json was made with
min(4, os.cpu_count()) threads (scripts/make_fixtures.py); pass that --threads to reproduce it to
1e-9.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
# imported here so that load_seconds does not include them (transformers imports lazily)
from transformers import GPT2LMHeadModel, GPT2TokenizerFast  # noqa: F401
from transformers.utils import logging as hf_logging  # noqa: F401

from pipeline_reference import (TASK_TYPES, TYPE_ALIASES, Scorer, load_gpt2, load_tokenizer,
                                read_task, results_csv, score_task)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", required=True, help="task file: CSV, JSONL or JSON array")
    ap.add_argument("--model", required=True, help="model folder (config.json, model.safetensors, tokenizer.json)")
    ap.add_argument("--out", required=True, help="folder for <model folder name>.csv")
    ap.add_argument("--type", choices=list(TASK_TYPES) + list(TYPE_ALIASES),
                    help="task type (default: inferred from the columns)")
    ap.add_argument("--truncation", choices=["keep-scored", "pipeline"], default="keep-scored")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's default)")
    ap.add_argument("--limit", type=int, help="score only the first N examples")
    args = ap.parse_args()

    if args.threads is not None:
        if args.threads < 1:
            sys.exit("--threads must be at least 1")
        torch.set_num_threads(args.threads)
    model_dir = Path(args.model)
    name = model_dir.name or model_dir.resolve().name

    task_type, rows = read_task(Path(args.task), args.type)
    if args.limit is not None:
        rows = rows[:max(0, args.limit)]
    if not rows:
        sys.exit(f"{args.task}: no examples to score")

    t0 = time.perf_counter()
    fast = load_tokenizer(model_dir)
    model, _ = load_gpt2(model_dir)
    t1 = time.perf_counter()
    sc = Scorer(model, fast, cache=False, track_top1=False, check_pipeline=False)
    results = score_task(sc, task_type, rows, args.truncation)
    t2 = time.perf_counter()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / f"{name}.csv"
    csv_path.write_text(results_csv(task_type, results), encoding="utf-8")

    n = len(results)
    key = "loss" if task_type in ("classification", "sequence_prob") else "logodds_difference"
    vals = np.asarray([r[key] for r in results], dtype=np.float64)
    line = (f"{name}: {task_type}, {n} examples, truncation {args.truncation}, "
            f"{sum(r['truncated'] for r in results)} truncated, mean {key} {vals.mean():.6f}")
    if "correct" in results[0]:
        line += f", accuracy {np.mean([r['correct'] for r in results]):.4f}"
    print(line + f", torch threads {torch.get_num_threads()} -> {csv_path}", file=sys.stderr)

    score_s = t2 - t1
    print(json.dumps({
        "examples": n,
        "load_seconds": round(t1 - t0, 6),
        "score_seconds": round(score_s, 6),
        "examples_per_second": round(n / score_s, 6) if score_s > 0 else None,
    }))


if __name__ == "__main__":
    main()
