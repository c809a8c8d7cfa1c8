#!/usr/bin/env python3
"""Write a random-weight GPT-2 checkpoint with a real GPT-2 shape, for benchmarks.

Run from the repository root (needs the venv of scripts/requirements-fixtures.txt):

    .venv/bin/python scripts/make_bench_model.py /tmp/bench/gpt2 --shape gpt2 --dtype f32 [--seed 7] [--verify]

Shapes (vocab 50257, n_positions 1024 for all):
    gpt2         12 layers, n_embd  768, 12 heads   (124M parameters, 0.5 GB in f32)
    gpt2-medium  24 layers, n_embd 1024, 16 heads   (355M, 1.4 GB)
    gpt2-large   36 layers, n_embd 1280, 20 heads   (774M, 3.1 GB)
    gpt2-xl      48 layers, n_embd 1600, 25 heads   (1.56B, 6.2 GB)

OUT_DIR gets the Hub's layout: config.json (as scripts/make_fixtures.py writes it),
model.safetensors (Hub-style keys without `transformer.`, tied head so no lm_head.weight, no
attention buffers; F32 or F16) and tokenizer.json (a copy of tests/fixtures/tokenizer.json).

The safetensors file is streamed: its header is computed from the shapes first, then each tensor
is generated, written and dropped, so memory stays at about one tensor (the largest is wte).
Every tensor comes from its own torch.Generator seeded from (--seed, tensor name), so the output
is deterministic and the same for a given seed whatever the order.  The init follows the test
fixtures' style rather than GPT-2's training init: weights scaled to 1/sqrt(fan_in), q/k a bit
larger so attention is not flat, layer-norm gains around 1 with noise, and a token embedding
large enough that the tied output layer gives peaked next-token distributions.

--verify loads the result with GPT2LMHeadModel.from_pretrained (float32), fails on missing or
unexpected keys or any parameter that differs from the file, and prints next-token top-1
probability statistics of one forward pass.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import struct
import sys
import time
from pathlib import Path

import torch

from pipeline_reference import N_POSITIONS, VOCAB, config_dict

REPO = Path(__file__).resolve().parent.parent
SHAPES = {
    "gpt2": (12, 768, 12),
    "gpt2-medium": (24, 1024, 16),
    "gpt2-large": (36, 1280, 20),
    "gpt2-xl": (48, 1600, 25),
}
DTYPES = {"f32": (torch.float32, "F32", 4), "f16": (torch.float16, "F16", 2)}


def tensor_specs(n_layer, E):
    """{name: (shape, std, mean)} in the Hub's naming (no `transformer.` prefix)."""
    s = {
        "wte.weight": ((VOCAB, E), 4.0 / math.sqrt(E), 0.0),
        "wpe.weight": ((N_POSITIONS, E), 0.7 / math.sqrt(E), 0.0),
        "ln_f.weight": ((E,), 0.2, 1.0),
        "ln_f.bias": ((E,), 0.1, 0.0),
    }
    for i in range(n_layer):
        p = f"h.{i}."
        s[p + "ln_1.weight"] = ((E,), 0.2, 1.0)
        s[p + "ln_1.bias"] = ((E,), 0.1, 0.0)
        # q and k a bit larger than 1/sqrt(fan_in) so attention patterns are not flat
        s[p + "attn.c_attn.weight"] = ((E, 3 * E), 1.5 / math.sqrt(E), 0.0)
        s[p + "attn.c_attn.bias"] = ((3 * E,), 0.1, 0.0)
        s[p + "attn.c_proj.weight"] = ((E, E), 1.0 / math.sqrt(E), 0.0)
        s[p + "attn.c_proj.bias"] = ((E,), 0.1, 0.0)
        s[p + "ln_2.weight"] = ((E,), 0.2, 1.0)
        s[p + "ln_2.bias"] = ((E,), 0.1, 0.0)
        s[p + "mlp.c_fc.weight"] = ((E, 4 * E), 1.0 / math.sqrt(E), 0.0)
        s[p + "mlp.c_fc.bias"] = ((4 * E,), 0.1, 0.0)
        s[p + "mlp.c_proj.weight"] = ((4 * E, E), 1.0 / math.sqrt(4 * E), 0.0)
        s[p + "mlp.c_proj.bias"] = ((E,), 0.1, 0.0)
    return s


def make_tensor(seed, name, shape, std, mean, dtype):
    sub = int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "little")
    g = torch.Generator().manual_seed(sub & ((1 << 63) - 1))
    t = torch.randn(shape, generator=g, dtype=torch.float32)
    t.mul_(std).add_(mean)
    return t.to(dtype).contiguous()


def write_safetensors(path: Path, specs, seed, dtype_key):
    """Streams the tensors into a safetensors file (same layout rules as the safetensors library:
    tensors sorted by name, contiguous, header JSON padded with spaces to a multiple of 8)."""
    tdtype, st_name, size = DTYPES[dtype_key]
    names = sorted(specs)
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for n in names:
        nbytes = math.prod(specs[n][0]) * size
        header[n] = {"dtype": st_name, "shape": list(specs[n][0]), "data_offsets": [off, off + nbytes]}
        off += nbytes
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for n in names:
            shape, std, mean = specs[n]
            t = make_tensor(seed, n, shape, std, mean, tdtype)
            b = memoryview(t.numpy()).cast("B")  # no copy
            assert b.nbytes == header[n]["data_offsets"][1] - header[n]["data_offsets"][0], n
            f.write(b)
            del t, b
    assert sys.byteorder == "little"
    os.replace(tmp, path)
    return off


def verify(out: Path, specs, seed, dtype_key):
    from safetensors import safe_open
    from pipeline_reference import load_gpt2

    t0 = time.perf_counter()
    model, info = load_gpt2(out)
    dt = time.perf_counter() - t0
    unexpected = info.get("unexpected_keys", [])
    missing = info.get("missing_keys", [])
    if unexpected or [k for k in missing if not k.endswith("lm_head.weight")]:
        sys.exit(f"from_pretrained: missing={missing} unexpected={unexpected}")
    params = dict(model.transformer.named_parameters())
    if sorted(params) != sorted(specs):
        sys.exit(f"parameter names differ: {sorted(set(params) ^ set(specs))}")
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        assert sorted(f.keys()) == sorted(specs)
        for n in specs:
            if not torch.equal(params[n].detach(), f.get_tensor(n).to(torch.float32)):
                sys.exit(f"parameter {n} differs from the file")
    # a spot check that the file holds what make_tensor gives (determinism)
    again = make_tensor(seed, "h.0.ln_1.weight", *specs["h.0.ln_1.weight"], DTYPES[dtype_key][0])
    assert torch.equal(params["h.0.ln_1.weight"].detach(), again.to(torch.float32))
    assert torch.equal(model.lm_head.weight, model.transformer.wte.weight), "lm_head not tied"
    ids = torch.arange(1000, 1000 + 64 * 7, 7).unsqueeze(0) % VOCAB
    with torch.no_grad():
        lg = model(input_ids=ids).logits[0]
    top1 = torch.softmax(lg, -1).max(-1).values
    print(f"verify: from_pretrained in {dt:.1f}s, missing={missing} unexpected={unexpected}, "
          f"{len(params)} parameters equal the file, "
          f"{sum(p.numel() for p in params.values()):,} weights; next-token top-1 over "
          f"{top1.numel()} positions: median {top1.median().item():.3f}, "
          f"p>0.3 at {(top1 > 0.3).float().mean().item():.0%}, max |logit| {lg.abs().max().item():.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--shape", choices=list(SHAPES), default="gpt2")
    ap.add_argument("--dtype", choices=list(DTYPES), default="f32")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--verify", action="store_true", help="load it back with transformers and check it")
    args = ap.parse_args()

    n_layer, E, n_head = SHAPES[args.shape]
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specs = tensor_specs(n_layer, E)
    t0 = time.perf_counter()
    cfg = config_dict(n_layer, E, n_head)
    (out / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    nbytes = write_safetensors(out / "model.safetensors", specs, args.seed, args.dtype)
    tok = out / "tokenizer.json"
    if tok.is_symlink() or tok.exists():
        tok.unlink()
    shutil.copyfile(REPO / "tests" / "fixtures" / "tokenizer.json", tok)
    n_params = sum(math.prod(s[0]) for s in specs.values())
    print(f"wrote {out}: {args.shape} ({n_layer} layers, n_embd {E}, {n_head} heads), "
          f"{len(specs)} tensors, {n_params:,} weights, {args.dtype}, "
          f"model.safetensors {nbytes / 1e6:,.1f} MB of data, seed {args.seed}, "
          f"{time.perf_counter() - t0:.1f}s")
    if args.verify:
        verify(out, specs, args.seed, args.dtype)


if __name__ == "__main__":
    main()
