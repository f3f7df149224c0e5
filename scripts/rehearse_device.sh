#!/usr/bin/env bash
# Rehearses the lent GPU's run on this CPU, offline, with the GPU image's versions:
#
#   bash scripts/rehearse_device.sh       # ~2-4 minutes; CI's 'device' lane
#
# 1. builds the device kit (scripts/device_kit.sh, from the registry);
# 2. makes a Python 3.12 venv standing in for the image: constraints/device-image.txt
#    (jax 0.11.2, numpy 2.5.2, ...; no ml-collections, TFDS, array-record, grain or
#    tensorboardX), and checks that those five are absent;
# 3. runs the GPU command itself, `bash scripts/gpu_benchmark.sh --quick`, with the
#    network cut (a new network namespace: no interface but loopback), and checks
#    that it wrote its files under $OUT and imported none of the five.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "rehearsal: $*" >&2; exit 1; }

python312=$(pyenv root 2>/dev/null)/versions/$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$' | sort -V | tail -1)/bin/python3.12
[ -x "$python312" ] || python312=$(command -v python3.12 || true)
[ -n "$python312" ] && [ -x "$python312" ] || fail "Python 3.12 is not installed (the GPU image's Python); install it or run the rehearsal elsewhere."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "=== rehearsal: the device kit"
bash scripts/device_kit.sh
echo "=== rehearsal: a Python 3.12 venv with the image's packages ($($python312 --version))"
"$python312" -m venv "$work/image"
"$work/image/bin/python" -m pip install --quiet --upgrade pip
"$work/image/bin/python" -m pip install --quiet -r constraints/device-image.txt
"$work/image/bin/python" -m pip list --format=freeze 2>/dev/null \
  | grep -iE '^(jax|jaxlib|numpy|flax|optax|orbax-checkpoint)==' | tr '\n' ' '; echo
for missing in ml_collections tensorflow_datasets array_record grain tensorboardX; do
  if "$work/image/bin/python" -c "import $missing" 2>/dev/null; then
    fail "$missing is importable in the stand-in image; constraints/device-image.txt must leave it out."
  fi
done

echo "=== rehearsal: the GPU command, --quick, offline"
mkdir "$work/out"
cut_network=(unshare --net)
if ! unshare --net true 2>/dev/null; then
  echo "rehearsal: cannot make a network namespace here (unshare needs root); pointing every proxy at a closed port instead"
  cut_network=(env http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 PIP_NO_INDEX=1)
fi
"${cut_network[@]}" env PATH="$work/image/bin:$PATH" OUT="$work/out" SITE="$work/site" \
  JAX_PLATFORMS=cpu \
  bash scripts/gpu_benchmark.sh --quick
for f in environment.txt bench.json bench.md log.txt; do
  [ -s "$work/out/$f" ] || fail "the GPU command did not write \$OUT/$f."
done
grep -q "^ml-collections\|^ml_collections" "$work/out/environment.txt" \
  || fail "environment.txt does not list the carried ml-collections (was the kit installed?)."
echo "=== rehearsal passed: the GPU command ran offline with the image's versions; \$OUT held: $(ls "$work/out" | tr '\n' ' ')"
