# Sourced by the bench scripts: makes the gpt2-small-shaped random checkpoint and the
# classification task under $BENCH_DIR (default /tmp/invscale-bench) when missing, and sets
# `bench`, `py` and `task` (the first $examples examples of the task).
bench="${BENCH_DIR:-/tmp/invscale-bench}"
py=.venv/bin/python
[ -f "$bench/gpt2/model.safetensors" ] || "$py" scripts/make_bench_model.py "$bench/gpt2" --shape gpt2
[ -f "$bench/task.csv" ] || "$py" scripts/make_bench_task.py "$bench/task.csv" --examples 200
# The first $examples examples (CSV records, so multi-line prompts stay whole).
"$py" - "$bench/task.csv" "$examples" "$bench/task-$examples.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
csv.writer(open(sys.argv[3], "w", newline=""), lineterminator="\n").writerows(rows[: int(sys.argv[2]) + 1])
PY
task="$bench/task-$examples.csv"
# The same examples as JSON ([{prompt, classes}]), for the transformers.js baseline.
"$py" - "$task" "$bench/task-$examples.json" <<'PY'
import json, sys
from pathlib import Path
sys.path.insert(0, "scripts")
from pipeline_reference import read_task
_, rows = read_task(Path(sys.argv[1]))
json.dump([{"prompt": r["prompt"], "classes": r["classes"]} for r in rows], open(sys.argv[2], "w"))
PY
