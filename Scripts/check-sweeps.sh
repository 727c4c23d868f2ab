#!/usr/bin/env bash
# A sweep through a real single-node Slurm cluster and on local processes, checked end to end:
#   1. a 3 × 2 grid × 2 seeds of Scripts/sweep-check/tiny.ipynb through `tessera sweep --slurm`:
#      every point's notebook and status, and the table `tessera collect` makes;
#   2. the same command again: nothing is submitted, nothing re-runs;
#   3. a task cancelled with scancel while its cell runs keeps the outputs of the cells before,
#      and the running cell names SIGTERM;
#   4. the same sweep with --lanes 2 gives bit-identical metrics;
# then stops the daemons it started. Needs a built tessera (swift build -c release).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
tessera="$repo/.build/release/tessera"
work="$(mktemp -d /tmp/tessera-sweep-check.XXXXXX)"
export TESSERA_SLURM_DIR="$work/slurm"
stop() { bash Scripts/slurm-local.sh stop >/dev/null || true; }
trap stop EXIT
eval "$(bash Scripts/slurm-local.sh start)"

notebook=Scripts/sweep-check/tiny.ipynb
grid=Scripts/sweep-check/grid.json
runs="$work/runs"

echo "== 1. a 3 x 2 grid x 2 seeds through Slurm"
"$tessera" sweep "$notebook" --grid "$grid" --seeds 0,1 --slurm --runs "$runs" --name slurm 2>&1 | tee "$work/first.log"
"$tessera" collect "$runs/slurm" --by width
python3 - "$runs/slurm" <<'PY'
import json, os, sys
folder = sys.argv[1]
tasks = sorted(d for d in os.listdir(folder) if os.path.exists(os.path.join(folder, d, "task.json")))
assert len(tasks) == 12, f"expected 12 tasks, found {tasks}"
for task in tasks:
    status = json.load(open(os.path.join(folder, task, "status.json")))
    assert status["state"] == "ok", (task, status)
    nb = json.load(open(os.path.join(folder, task, "notebook.ipynb")))
    metrics = nb["metadata"]["tessera"]["metrics"]
    point = json.load(open(os.path.join(folder, task, "parameters.json")))
    seed = nb["metadata"]["tessera"]["seed"]
    expected = point["width"] * point["scale"] + seed / 4
    assert metrics["score"] == expected, (task, metrics, expected)
rows = json.load(open(os.path.join(folder, "collected.json")))
assert len(rows) == 6 and all(r["seeds"] == 2 for r in rows), rows
for name in ("collected.md", "collected.svg", "collected.png"):
    assert os.path.exists(os.path.join(folder, name)), name
print(f"sweep check: 12 tasks ok, metrics as expected, collected {len(rows)} rows")
PY

echo "== 2. the same command again runs nothing"
"$tessera" sweep "$notebook" --grid "$grid" --seeds 0,1 --slurm --runs "$runs" --name slurm 2>&1 | tee "$work/second.log"
grep -q "0 to run, 12 finished before" "$work/second.log"
if grep -q "submitted array job" "$work/second.log"; then echo "a finished sweep was submitted again" >&2; exit 1; fi

echo "== 3. scancel of a running task keeps its outputs"
echo '{"width": [1], "pause": [300.0]}' > "$work/pause.json"
"$tessera" sweep "$notebook" --grid "$work/pause.json" --slurm --runs "$runs" --name cancel > "$work/cancel.log" 2>&1 &
sweep=$!
task="$runs/cancel/width=1_pause=300.0_seed=0"
for _ in $(seq 1 240); do
  if [ -f "$task/log.txt" ] && grep -q "submitted array job" "$work/cancel.log" && [ -n "$(pgrep -f "pause=300.0" || true)" ]; then
    sleep 3  # past the first cells, into the pause
    break
  fi
  sleep 0.5
done
job="$(sed -n 's/.*submitted array job \([0-9]*\).*/\1/p' "$work/cancel.log")"
timeout 20 scancel "${job}_0"
wait "$sweep" || true
cat "$work/cancel.log"
python3 - "$task" <<'PY'
import json, os, sys
task = sys.argv[1]
status = json.load(open(os.path.join(task, "status.json")))
assert status["state"] == "interrupted", status
nb = json.load(open(os.path.join(task, "notebook.ipynb")))
cells = {c["id"]: c for c in nb["cells"]}
text = lambda c: "".join("".join(o.get("text", "")) for o in c["outputs"] if o["output_type"] == "stream")
assert "score 1.0" in text(cells["score"]), cells["score"]["outputs"]
errors = [o for o in cells["pause"]["outputs"] if o["output_type"] == "error"]
assert errors and "SIGTERM" in errors[0]["evalue"], cells["pause"]["outputs"]
assert "pausing" in text(cells["pause"]), cells["pause"]["outputs"]
print("sweep check: the cancelled task kept its outputs; its running cell names SIGTERM")
PY

echo "== 4. the same sweep on local processes gives the same bits"
"$tessera" sweep "$notebook" --grid "$grid" --seeds 0,1 --lanes 2 --runs "$runs" --name local
python3 - "$runs/slurm" "$runs/local" <<'PY'
import json, os, sys
a, b = sys.argv[1], sys.argv[2]
for task in sorted(os.listdir(a)):
    if not os.path.exists(os.path.join(a, task, "task.json")):
        continue
    ma = json.load(open(os.path.join(a, task, "notebook.ipynb")))["metadata"]["tessera"]["metrics"]
    mb = json.load(open(os.path.join(b, task, "notebook.ipynb")))["metadata"]["tessera"]["metrics"]
    assert json.dumps(ma, sort_keys=True) == json.dumps(mb, sort_keys=True), (task, ma, mb)
print("sweep check: --slurm and --lanes 2 metrics are bit-identical")
PY
echo "sweep check: passed ($work)"
