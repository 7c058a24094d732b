#!/usr/bin/env bash
# The GPU check: on a machine with a CUDA GPU, run what can use it and print one table.
#
#   bash bench/gpu_check.sh            # uses $PYTHON (default: python3) and its installed packages
#
# Steps (each under its own time limit, about 8 minutes in all):
#   1. the GPU tests (tests/test_gpu.py: say-check and both LRE paths against the CPU, a bfloat16 session)
#   2. the main job, `pytest suites/` on the default model with --factcheck-device cuda --factcheck-dtype bfloat16
#      (not gated: the committed baseline was recorded on the CPU in float32)
#   3. the LRE benchmark (W estimated, low rank, and decoded without W) in bfloat16
#   4. the say-check benchmark on the geography suites in bfloat16
# Logs and the main job's JSON report go to $OUT (default: a temporary folder).
# The project needs no GPU: nothing else calls this script.
set -u
cd "$(dirname "$0")/.." || exit 1
PYTHON=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d)}
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu rehearses the script where no GPU is
mkdir -p "$OUT"

if [ "$DEVICE" = cuda ] && ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_check: no CUDA GPU visible to $PYTHON (torch.cuda.is_available() is False); nothing to check" >&2
    exit 2
fi
if ! "$PYTHON" -c "import factcheck" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet --no-deps -e . || { echo "gpu_check: cannot install factcheck into $PYTHON" >&2; exit 2; }
fi
if [ "$DEVICE" = cuda ]; then
    "$PYTHON" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'gpu_check: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}')"
fi

rows=()
step() {  # step NAME LIMIT_SECONDS PASSING_EXIT_CODES COMMAND...: run, time and summarise one step
    local name=$1 limit=$2 passing=$3
    shift 3
    local log="$OUT/${name// /_}.log" started ended status figure
    started=$(date +%s.%N)
    timeout "$limit" "$@" >"$log" 2>&1
    status=$?
    ended=$(date +%s.%N)
    if [ "$status" = 124 ]; then
        result="timed out (${limit} s)"
    elif [[ " $passing " == *" $status "* ]]; then
        result="ok (exit $status)"
    else
        result="failed (exit $status)"
    fi
    figure=$(grep -E "passed|failed|median|decode|facts/s| s$|x$" "$log" | tail -1 | cut -c1-90)
    rows+=("$(printf '%-34s %-20s %8.1f  %s' "$name" "$result" "$(awk "BEGIN { print $ended - $started }")" "$figure")")
}

FACTCHECK_GPU_TEST_DEVICE=$DEVICE step "GPU tests" 90 "0" "$PYTHON" -m pytest tests/test_gpu.py -q -p no:cacheprovider
# Exit 1 is facts said wrong, which an ungated run reports as failures: the job itself ran.
step "main job, $DEVICE bfloat16" 200 "0 1" "$PYTHON" -m pytest suites/ -q -p no:cacheprovider --factcheck-device "$DEVICE" \
    --factcheck-dtype bfloat16 -o factcheck_baseline= --factcheck-report "$OUT/report.json"
step "LRE benchmark, bfloat16" 120 "0" "$PYTHON" bench/bench_lre_speed.py --skip-reference --device "$DEVICE" --dtype bfloat16 --repeats 3
step "say-check benchmark, bfloat16" 60 "0" "$PYTHON" bench/bench_saycheck.py suites/geography --device "$DEVICE" --dtype bfloat16 --repeats 3

printf '\n%-34s %-20s %8s  %s\n' "step" "result" "seconds" "last figure (full logs in $OUT)"
printf '%s\n' "${rows[@]}"
