#!/usr/bin/env python3
"""Run the prize's official evaluation code on the fixtures and keep the CSVs it writes.

Writes tests/fixtures/pipeline/<model>/<task type>/<task file>.csv: exactly the bytes that
`eval_pipeline.main.run_model` (naimenz/inverse-scaling-eval-pipeline, last commit) writes for
the fixture model on the fixture task. `tests/suite/pipeline_format.rs` compares the CLI's
CSVs with them: header, line ends, quoting and the integer columns byte for byte, floats value
for value (our float32 arithmetic is not torch's to the last bit).

The official code loads models and tokenizers by Hub name ("gpt2"); here both are redirected
to the fixture folder, and nothing else of it is changed. Its other imports are only needed to
import it.

How to run (from the repository root):

    git clone https://github.com/naimenz/inverse-scaling-eval-pipeline /tmp/pipeline
    python3 -m venv .venv
    .venv/bin/pip install -r scripts/requirements-fixtures.txt \
        'numpy<2' pandas tqdm python-dotenv accelerate requests ratelimit
    .venv/bin/python scripts/pipeline_official.py /tmp/pipeline

numpy below 2 is the pipeline's own pin (`numpy = "^1.14.5"`): numpy 2 writes its float64
values as `np.float64(...)`.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
MODELS = ["tiny-hub", "tiny-odd-heads"]
# (task file, the pipeline's --task-type)
TASKS = [
    ("classification.csv", "classification"),
    ("hostile.csv", "classification"),
    ("long_prompt.csv", "classification"),
    ("sequence_prob.csv", "sequence_prob"),
    ("logodds.csv", "logodds"),
    ("logodds.csv", "absolute_logodds"),
]


def redirect_hub_names():
    """Every from_pretrained(name) of the official code loads MODEL_DIR[0] instead."""
    import transformers

    for cls in (transformers.AutoModelForCausalLM, transformers.AutoTokenizer):
        load = cls.from_pretrained.__func__

        def from_folder(klass, _name, *args, _load=load, **kwargs):
            return _load(klass, str(MODEL_DIR[0]), *args, **kwargs)

        cls.from_pretrained = classmethod(from_folder)


MODEL_DIR: list[Path] = [FIXTURES / "models" / MODELS[0]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pipeline", type=Path, help="a checkout of inverse-scaling-eval-pipeline")
    ap.add_argument("--out", type=Path, default=FIXTURES / "pipeline")
    args = ap.parse_args()
    sys.path.insert(0, str(args.pipeline.resolve()))

    redirect_hub_names()
    # Imported after the redirect: models.py loads a tokenizer as it is imported.
    from eval_pipeline.main import load_data, run_model

    for model in MODELS:
        MODEL_DIR[0] = FIXTURES / "models" / model
        for task_file, task_type in TASKS:
            (args.out / model / task_type).mkdir(parents=True, exist_ok=True)
            data = load_data(FIXTURES / "tasks" / task_file, task_type)
            with tempfile.TemporaryDirectory() as tmp:
                run_model("gpt2", data, Path(tmp), "cpu", 1, task_type)
                target = args.out / model / task_type / task_file
                shutil.copyfile(Path(tmp) / "gpt2.csv", target)
            print(f"{target.relative_to(REPO)}: {len(data)} examples")


if __name__ == "__main__":
    main()
