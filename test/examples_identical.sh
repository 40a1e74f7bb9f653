#!/bin/sh
# Runs one example with 1, 2 and 4 workers on each backend and checks that
# every run prints the same result lines (those PATTERN matches, grep -E;
# default "^result:"), bit for bit: its random numbers come from stream =
# task index (its fits are deterministic), so neither the worker count nor
# the backend may change them. With $MPIEXEC set (and $MPIEXEC_FLAGS, e.g.
# --oversubscribe), also under `$MPIEXEC -n 3` with --backend mpi and 1 and
# 2 workers per serving rank. The sizes are the example's smoke.args; the -j
# and --backend given after them win.
# Usage: examples_identical.sh EXECUTABLE SMOKE_ARGS_FILE [PATTERN]
set -eu
exe=$1
args=$(cat "$2")
pattern=${3:-^result:}
name=$(basename "$exe")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ref=""
check() { # BACKEND J LAUNCHER...: one run, compared with the first
  backend=$1 j=$2
  shift 2
  out=$tmp/$backend-$j
  # shellcheck disable=SC2086 # smoke.args is a list of words
  if ! "$@" "$exe" $args -j "$j" --backend "$backend" >"$out.all"; then
    echo "$name -j $j --backend $backend failed:"
    cat "$out.all"
    exit 1
  fi
  grep -E "$pattern" "$out.all" >"$out" || true
  if [ ! -s "$out" ]; then
    echo "$name -j $j --backend $backend printed no line matching $pattern"
    cat "$out.all"
    exit 1
  fi
  if [ -z "$ref" ]; then
    ref=$out
  elif ! cmp -s "$ref" "$out"; then
    echo "$name: -j $j --backend $backend differs from $(basename "$ref"):"
    diff "$ref" "$out" || true
    exit 1
  fi
}

for backend in threads processes; do
  for j in 1 2 4; do
    check "$backend" "$j" env
  done
done
ran="-j 1, 2, 4 on threads and processes"
if [ -n "${MPIEXEC:-}" ]; then
  for j in 1 2; do
    # shellcheck disable=SC2086 # the flags are a list of words
    check mpi "$j" timeout -k 5 120 "$MPIEXEC" -n 3 ${MPIEXEC_FLAGS:-}
  done
  ran="$ran, and -j 1, 2 per rank on mpi (3 ranks)"
fi
echo "$name: identical results for $ran:"
cat "$ref"
