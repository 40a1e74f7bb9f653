#!/bin/sh
# `pip install --no-build-isolation .` works from the tree: the package is
# built from a copy of what setup.py reads (so the tree's own build/ is not
# touched) into a scratch target directory, then imported and used there.
# Usage: pip_install.sh PYTHON SOURCE_DIR
set -eu
py=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/tree"
for p in setup.py pyproject.toml src include python docs; do
  cp -r "$src/$p" "$tmp/tree/"
done
rm -rf "$tmp/tree/python/tests"
cd "$tmp/tree"
"$py" -m pip install -q --no-build-isolation --no-deps --no-index \
  --target "$tmp/site" . >"$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log"; exit 1; }
cd "$tmp"
PYTHONPATH="$tmp/site" "$py" -c '
import parc, parc._core as c
assert parc._core.__file__.startswith("'"$tmp/site"'"), parc._core.__file__
assert c.ETIMEDOUT == -4
print("pip install: ok,", parc._core.__file__)
'
