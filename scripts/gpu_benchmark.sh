#!/usr/bin/env bash
# The one command to run on the lent GPU machine (docs/BENCHMARKS.md, "GPU"):
#
#   bash scripts/device_kit.sh                                   # here, once: builds .whl/
#   device run: command "bash scripts/gpu_benchmark.sh", carry [".whl"], timeout_s 560
#
# Installs the device kit offline into SITE (default /tmp/site), records the driver and
# package versions, and runs scripts/benchmark_device (extra arguments go to it), writing
# environment.txt, bench.json, bench.md and log.txt under $OUT (what comes back).
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?OUT must name the folder whose files come back (the device tool sets it)}"
SITE=${SITE:-/tmp/site}
ls .whl/*.whl >/dev/null 2>&1 || { echo "error: no wheels in .whl/: run 'bash scripts/device_kit.sh' here and name .whl in the call's carry." >&2; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" .whl/*.whl || { echo "error: the device kit did not install (see pip's message above)." >&2; exit 3; }
export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
{ date -u; uname -a; nvidia-smi 2>&1 || echo "nvidia-smi: not available";
  python3 --version; python3 -m pip list 2>/dev/null; } > "$OUT/environment.txt" 2>&1
PYTHONUNBUFFERED=1 python3 -m scripts.benchmark_device --output_json="$OUT/bench.json" \
  --output_md="$OUT/bench.md" "$@" 2>&1 | tee "$OUT/log.txt"
exit "${PIPESTATUS[0]}"
