#!/usr/bin/env bash
# --grid NAME=SPEC: words, start:stop[:step] ranges, from..toxN log scales,
# \, escapes, and how the numbers are printed (integers as integers, else
# up to 12 significant digits).
. "$(dirname "$0")/lib.sh"

# grid_values SPEC: the values of axis x=SPEC, one per line.
grid_values() {
  run_parc -q -k --grid "x=$1" printf '%s\n' '{x}'
  [ "$RC" -eq 0 ] || fail "--grid x=$1 failed with exit $RC"
  printf '%s\n' "$OUT"
}

check_eq "words" "$(lines rbf linear poly)" "$(grid_values rbf,linear,poly)"
check_eq "range 1:10:2" "$(lines 1 3 5 7 9)" "$(grid_values 1:10:2)"
check_eq "range 1:5, step 1 by default" "$(lines 1 2 3 4 5)" "$(grid_values 1:5)"
check_eq "range stop is inclusive 0:6:3" "$(lines 0 3 6)" "$(grid_values 0:6:3)"
check_eq "range with a negative step counts down 5:1:-2" "$(lines 5 3 1)" "$(grid_values 5:1:-2)"
check_eq "range over negative numbers -2:2" "$(lines -2 -1 0 1 2)" "$(grid_values -2:2)"
check_eq "fractional range 0:1:0.25" "$(lines 0 0.25 0.5 0.75 1)" "$(grid_values 0:1:0.25)"
check_eq "fractional range printed with 12 significant digits 0.1:0.5:0.1" \
  "$(lines 0.1 0.2 0.3 0.4 0.5)" "$(grid_values 0.1:0.5:0.1)"
check_eq "range with a single value 3:3" "3" "$(grid_values 3:3)"
check_eq "log scale 1e-3..1e1x5" "$(lines 0.001 0.01 0.1 1 10)" "$(grid_values 1e-3..1e1x5)"
check_eq "log scale 1..100x3" "$(lines 1 10 100)" "$(grid_values 1..100x3)"
check_eq "log scale 2..32x5" "$(lines 2 4 8 16 32)" "$(grid_values 2..32x5)"
check_eq "log scale to a million prints integers" "$(lines 1000 10000 100000 1000000)" \
  "$(grid_values 1e3..1e6x4)"
check_eq "log scale with non-integer steps 1..10x3" "$(lines 1 3.16227766017 10)" \
  "$(grid_values 1..10x3)"
check_eq "mixed items in one spec" "$(lines 1 2 3 rbf 0.01 0.1)" \
  "$(grid_values '1:3,rbf,1e-2..1e-1x2')"
check_eq "\\, is a comma inside a value" "$(lines 'a,b' c)" "$(grid_values 'a\,b,c')"
check_eq "a value with spaces" "$(lines 'a b' c)" "$(grid_values 'a b,c')"

# Axes multiply, the later one fastest, and are named.
run_parc -q -k --grid C=1e-1..1e1x3 --grid kernel=rbf,linear printf '%s %s\n' '{C}' '{kernel}'
check_eq "two axes: cartesian product, later axis fastest" \
  "$(lines '0.1 rbf' '0.1 linear' '1 rbf' '1 linear' '10 rbf' '10 linear')" "$OUT"

run_parc -q -k --grid C=1,2 --grid kernel=rbf printf '%s\n' 'v:{}'
check_eq "{} with grid axes: the word once per value, as GNU parallel's" \
  "$(lines 'v:1' 'rbf' 'v:2' 'rbf')" "$OUT"

run_parc -q -k --grid a=1,2 printf '%s %s\n' '{a}' '{1}'
check_eq "a grid axis is also source 1" "$(lines '1 1' '2 2')" "$OUT"

done_testing
