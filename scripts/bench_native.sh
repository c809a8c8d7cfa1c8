#!/usr/bin/env bash
# Native benchmark: `invscale eval` (CPU backend) against the reference implementation of the
# pipeline's semantics (PyTorch + transformers on CPU, scripts/reference_eval.py), same
# machine, same gpt2-small-shaped random checkpoint, interleaved repetitions, on two
# classification tasks: one whose examples share no text, and one made from a template (one
# instruction and three demonstrations before every prompt, as many of the prize's tasks
# are). Prints each run's examples/s, the medians, the ratio, and the tokens each side reads.
#
#   scripts/bench_native.sh [EXAMPLES=100] [REPETITIONS=3]
#
# Needs the venv of scripts/requirements-fixtures.txt at .venv (see scripts/make_fixtures.py).
# The checkpoint (~500 MB) and tasks are generated on demand under $BENCH_DIR (default
# /tmp/invscale-bench), never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
examples="${1:-100}"
repetitions="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/invscale-target}"
source scripts/bench_inputs.sh

cargo build --release --quiet --no-default-features
invscale="$CARGO_TARGET_DIR/release/invscale"
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

for name in task template; do
  file="$bench/$name-$examples.csv"
  echo "== $name: $file"
  ours=() ; theirs=()
  for rep in $(seq "$repetitions"); do
    start=$(date +%s.%N)
    "$invscale" eval --task "$file" --model "$bench/gpt2" --out "$bench/ours-$name" --backend cpu > /dev/null 2> "$bench/ours-$name.log"
    end=$(date +%s.%N)
    ours+=("$(echo "$examples / ($end - $start)" | bc -l)")
    start=$(date +%s.%N)
    "$py" scripts/reference_eval.py --task "$file" --model "$bench/gpt2" --out "$bench/reference-$name" --threads "$(nproc)" > /dev/null 2>&1
    end=$(date +%s.%N)
    theirs+=("$(echo "$examples / ($end - $start)" | bc -l)")
    printf 'repetition %d: invscale %.3f examples/s, reference %.3f examples/s (wall time, load included)\n' "$rep" "${ours[-1]}" "${theirs[-1]}"
  done
  m_ours=$(median "${ours[@]}"); m_theirs=$(median "${theirs[@]}")
  printf 'median: invscale %.3f examples/s, reference %.3f examples/s, ratio %.2fx\n' "$m_ours" "$m_theirs" "$(echo "$m_ours / $m_theirs" | bc -l)"
  # What the CLI says it read, beside the pipeline's one pass per class.
  grep -h "tokens" "$bench/ours-$name.log"
  # The two result files must agree: the benchmark compares equal work.
  "$py" - "$bench/ours-$name/gpt2.csv" "$bench/reference-$name/gpt2.csv" <<'PY'
import csv, sys
a = list(csv.DictReader(open(sys.argv[1]))); b = list(csv.DictReader(open(sys.argv[2])))
worst = max(abs(float(x["loss"]) - float(y["loss"])) for x, y in zip(a, b))
same = all(x["correct"] == y["correct"] and x["predicted"] == y["predicted"] for x, y in zip(a, b))
print(f"results agree: max |loss diff| {worst:.2e}, correct/predicted identical: {same}")
PY
done
