#!/usr/bin/env bash
# Builds the device kit: the wheels that the lent GPU's image lacks (constraints/device-kit.txt),
# for Python 3.12 on manylinux x86-64, downloaded into .whl/ (ignored by git).
#
#   bash scripts/device_kit.sh            # from the repository root; re-running is cheap
#
# On the GPU machine `bash scripts/gpu_benchmark.sh` installs them offline (the device
# tool's call names .whl in `carry`). Wheels in .whl/ that the list no longer names are
# removed (two versions of one package stop the install there). The kit and the working
# tree travel together and must stay under the tool's 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/.."
LIST=${DEVICE_KIT_LIST:-constraints/device-kit.txt}
DEST=.whl
LIMIT_MIB=64

fail() { echo "error: $*" >&2; exit 2; }
[ -f "$LIST" ] || fail "the kit list $LIST does not exist; run from the repository root or set DEVICE_KIT_LIST=FILE."
git check-ignore -q "$DEST/x.whl" 2>/dev/null || fail "$DEST/ is not ignored by git; add '/$DEST/' to .gitignore first (the kit must not be committed)."

pins=$(grep -vE '^\s*(#|$)' "$LIST" | tr -d ' ')
for pin in $pins; do
  [[ $pin =~ ^[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+$ ]] || fail "$LIST: '$pin' is not NAME==VERSION (the kit pins one version of each package)."
done
names=$(for pin in $pins; do echo "${pin%%==*}" | tr 'A-Z_.' 'a-z--'; done | sort)
[ -z "$(echo "$names" | uniq -d)" ] || fail "$LIST names a package twice: $(echo "$names" | uniq -d | tr '\n' ' ')"

mkdir -p "$DEST"
# One pip call for the whole list: the platforms the device tool's README gives.
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  --dest "$DEST" $pins 2> >(grep -v "^WARNING: Location" >&2)

# Keep exactly the listed versions (a wheel's name is NAME-VERSION-..., NAME with _ for - and .).
norm() { echo "$1" | tr 'A-Z' 'a-z' | sed -E 's/[-_.]+/_/g'; }
wanted=$(for pin in $pins; do echo "$(norm "${pin%%==*}") ${pin##*==}"; done)
for wheel in "$DEST"/*.whl; do
  [ -e "$wheel" ] || continue
  IFS=- read -r name version _ <<< "$(basename "$wheel")"
  echo "$wanted" | grep -qxF "$(norm "$name") $version" \
    || { echo "removing $(basename "$wheel") (not in $LIST)"; rm -f "$wheel"; }
done
count=$(find "$DEST" -maxdepth 1 -type f -name "*.whl" | wc -l)
[ "$count" -eq "$(echo "$pins" | wc -w)" ] || fail "expected $(echo "$pins" | wc -w) wheels in $DEST, found $count."

kit_kib=$(du -sk "$DEST" | cut -f1)
tree_kib=$(git ls-files -z | du -ck --files0-from=- 2>/dev/null | tail -1 | cut -f1)
echo "device kit: $count wheels, $((kit_kib / 1024)) MiB in $DEST/; with the tracked tree $(((kit_kib + tree_kib) / 1024)) MiB of the tool's $LIMIT_MIB MiB"
[ $((kit_kib + tree_kib)) -lt $((LIMIT_MIB * 1024)) ] || fail "the kit and the tree exceed $LIMIT_MIB MiB: carry fewer wheels."
ls -1 "$DEST"
