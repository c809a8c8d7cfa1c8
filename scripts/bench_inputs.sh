# Sourced by the bench scripts (PY: the python to use, .venv's by default): makes the gpt2-small-shaped random checkpoint and the
# classification tasks under $BENCH_DIR (default /tmp/invscale-bench) when missing, and sets
# `bench`, `py`, `task` (the first $examples examples of the task) and `template_task` (the
# same with one instruction and three demonstrations before every prompt, as the prize's
# template-made tasks are).
bench="${BENCH_DIR:-/tmp/invscale-bench}"
py="${PY:-.venv/bin/python}"
[ -f "$bench/gpt2/model.safetensors" ] || "$py" scripts/make_bench_model.py "$bench/gpt2" --shape gpt2
[ -f "$bench/task.csv" ] || "$py" scripts/make_bench_task.py "$bench/task.csv" --examples 200
[ -f "$bench/template.csv" ] || "$py" scripts/make_bench_task.py "$bench/template.csv" --examples 200 --template
# The first $examples examples (CSV records, so multi-line prompts stay whole).
for name in task template; do
  "$py" - "$bench/$name.csv" "$examples" "$bench/$name-$examples.csv" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline="")))
csv.writer(open(sys.argv[3], "w", newline=""), lineterminator="\n").writerows(rows[: int(sys.argv[2]) + 1])
PY
done
task="$bench/task-$examples.csv"
template_task="$bench/template-$examples.csv"
# The same examples as JSON ([{prompt, classes}]), for the transformers.js baseline.
for name in task template; do
  "$py" - "$bench/$name-$examples.csv" "$bench/$name-$examples.json" <<'PY'
import json, sys
from pathlib import Path
sys.path.insert(0, "scripts")
from pipeline_reference import read_task
_, rows = read_task(Path(sys.argv[1]))
json.dump([{"prompt": r["prompt"], "classes": r["classes"]} for r in rows], open(sys.argv[2], "w"))
PY
done
