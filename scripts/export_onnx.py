#!/usr/bin/env python3
"""Export a GPT-2 model folder to ONNX in the layout transformers.js loads, for the browser benchmark.

    .venv/bin/python scripts/export_onnx.py MODEL_DIR OUT_DIR

MODEL_DIR is a Hub-layout folder (config.json, model.safetensors, tokenizer.json), e.g. the
benchmark checkpoint of scripts/make_bench_model.py. OUT_DIR gets what transformers.js's
`AutoModelForCausalLM` / `AutoTokenizer.from_pretrained` read from a local model path:
config.json, tokenizer.json, tokenizer_config.json and onnx/model.onnx (float32).

The graph takes `input_ids` and `attention_mask` (batch and sequence dynamic) and returns
`logits`, the whole model in one forward pass: no `past_key_values` inputs, since scoring
reads one pass per sequence and never generates (transformers.js runs such a graph as is).
Needs `onnx`, `onnxscript` and `onnxruntime` (scripts/requirements-bench.txt). The file is
checked: onnx's checker, then onnxruntime's logits against the eager model's on another
(padded) batch shape than the traced one.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from pipeline_reference import load_gpt2


class LogitsOnly(torch.nn.Module):
    """GPT2LMHeadModel without the cache: (input_ids, attention_mask) -> logits."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", type=Path)
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args()

    model, _ = load_gpt2(args.model_dir)
    wrapped = LogitsOnly(model).eval()
    ids = torch.randint(0, model.config.vocab_size, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0  # a right-padded row, so the mask path is traced too
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence", max=model.config.n_positions)
    with torch.no_grad():
        program = torch.onnx.export(
            wrapped, (ids, mask), dynamo=True, input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
        )

    out = args.out_dir
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    program.save(str(out / "onnx" / "model.onnx"), external_data=False)
    shutil.copy(args.model_dir / "config.json", out / "config.json")
    shutil.copy(args.model_dir / "tokenizer.json", out / "tokenizer.json")
    # What transformers.js's GPT-2 tokenizer needs beyond tokenizer.json (as the Hub's gpt2 has).
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "GPT2Tokenizer", "model_max_length": model.config.n_positions,
        "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
        "add_prefix_space": False,
    }, indent=2) + "\n")
    import onnx
    import onnxruntime

    onnx.checker.check_model(str(out / "onnx" / "model.onnx"))
    # The file computes the model's logits on other shapes than the traced one, padding included.
    check_ids = torch.randint(0, model.config.vocab_size, (3, 17))
    check_mask = torch.ones_like(check_ids)
    check_mask[2, 11:] = 0
    session = onnxruntime.InferenceSession(str(out / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(None, {"input_ids": check_ids.numpy(), "attention_mask": check_mask.numpy()})
    with torch.no_grad():
        eager = wrapped(check_ids, check_mask)
    real = check_mask.bool()  # padded positions' logits are never read
    worst = (torch.from_numpy(onnx_logits) - eager).abs()[real].max().item()
    print(f"onnxruntime vs the eager model on a padded batch: max |logit diff| {worst:.2e}")
    if worst > 1e-3:
        sys.exit("the ONNX file does not compute the model's logits")
    print(f"wrote {out}/onnx/model.onnx ({(out / 'onnx' / 'model.onnx').stat().st_size / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
