#!/bin/sh
# Runs one example with 1, 2 and 4 workers on each backend and checks that
# every run prints the same "result:" lines, bit for bit: its random numbers
# come from stream = task index, so neither the worker count nor the backend
# may change them. The sizes are the example's smoke.args; the -j and
# --backend given after them win.
# Usage: examples_identical.sh EXECUTABLE SMOKE_ARGS_FILE
set -eu
exe=$1
args=$(cat "$2")
name=$(basename "$exe")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ref=""
for backend in threads processes; do
  for j in 1 2 4; do
    out=$tmp/$backend-$j
    # shellcheck disable=SC2086 # smoke.args is a list of words
    if ! "$exe" $args -j "$j" --backend "$backend" >"$out.all"; then
      echo "$name -j $j --backend $backend failed:"
      cat "$out.all"
      exit 1
    fi
    grep '^result:' "$out.all" >"$out" || true
    if [ ! -s "$out" ]; then
      echo "$name -j $j --backend $backend printed no result: line"
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
  done
done
echo "$name: identical results for -j 1, 2, 4 on threads and processes:"
cat "$ref"
