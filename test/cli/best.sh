#!/usr/bin/env bash
# --best METRIC [--minimize] [--average-over NAME]: a table of METRIC per
# setting, mean ± population std and the number of jobs, and the best
# setting. The expected numbers are computed by hand below.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

# acc by (C, fold):   fold 0   fold 1   fold 2  | mean     pop. std
#   C=7                0.5      0.6      0.7    | 0.6      sqrt(0.02/3)     = 0.081650
#   C=64               0.8      0.8      0.9    | 0.833333 sqrt(0.006667/3) = 0.047140
# (sample std would be 0.1 and 0.057735: told apart below.)
cat >acc.sh <<'EOF'
#!/bin/sh
case "$1/$2" in
  7/0) a=0.5;; 7/1) a=0.6;; 7/2) a=0.7;;
  64/0) a=0.8;; 64/1) a=0.8;; 64/2) a=0.9;;
esac
echo "acc=$a"
EOF

# table_row MEAN: the output line with "±" (not the best line) whose mean is MEAN.
table_row() {
  printf '%s\n%s\n' "$OUT" "$ERR" | grep '±' | grep -vi best | awk -v m="$1" '
    { s = $0; sub(/ *±.*/, "", s); n = split(s, w, /[^0-9.eE+-]+/)
      while (n > 0 && w[n] == "") n--
      if (n > 0 && (w[n] - m < 0.006 && m - w[n] < 0.006)) print }' | head -n 1
}
# std_of LINE: the number right after "±".
std_of() { printf '%s\n' "$1" | sed -e 's/.*± *//' | grep -Eo '^[0-9.eE+-]+'; }
# tokens LINE: the numbers and words of a line, one per line.
tokens() { printf '%s\n' "$1" | tr -cs 'A-Za-z0-9.' '\n'; }
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; exit !(d < 0.006 && d > -0.006) }'; }

run_parc -k --best acc --average-over fold --grid C=7,64 --grid fold=0:2 sh acc.sh '{C}' '{fold}'
check_rc "--best run" 0
row7=$(table_row 0.6)
row64=$(table_row 0.833333)
check_ne "a table row for C=7 with mean 0.6" "" "$row7"
check_ne "a table row for C=64 with mean 0.833" "" "$row64"
check_true "C=7 row names the setting" grep -qx 7 <<<"$(tokens "$row7")"
check_true "C=64 row names the setting" grep -qx 64 <<<"$(tokens "$row64")"
check_true "C=7: population std 0.0816 ($(std_of "$row7"))" near "$(std_of "$row7")" 0.081650
check_true "C=64: population std 0.0471 ($(std_of "$row64"))" near "$(std_of "$row64")" 0.047140
check_true "C=7 row counts 3 jobs" grep -qx 3 <<<"$(tokens "$row7")"
check_true "C=64 row counts 3 jobs" grep -qx 3 <<<"$(tokens "$row64")"
check_eq "no row per fold: two settings" 2 "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -E '[0-9] *± *[0-9]' | grep -vic best)"
best=$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -i best | grep -v '±' | tail -n 1)
[ -n "$best" ] || best=$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -i best | tail -n 1)
check_true "best setting (largest mean) is C=64: $best" grep -qx 64 <<<"$(tokens "$best")"
check_true "best line does not name C=7" bash -c '! grep -qx 7' <<<"$(tokens "$best")"

all=$(printf '%s\n%s\n' "$OUT" "$ERR")
l64=$(printf '%s\n' "$all" | grep -nF "$row64" | head -n 1 | cut -d: -f1)
l7=$(printf '%s\n' "$all" | grep -nF "$row7" | head -n 1 | cut -d: -f1)
check_true "table lists the best setting first (C=64 line $l64, C=7 line $l7)" [ "$l64" -lt "$l7" ]

run_parc -k --best acc --minimize --average-over fold --grid C=7,64 --grid fold=0:2 sh acc.sh '{C}' '{fold}'
check_rc "--best --minimize run" 0
best=$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -i best | grep -v '±' | tail -n 1)
[ -n "$best" ] || best=$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -i best | tail -n 1)
row7=$(table_row 0.6)
row64=$(table_row 0.833333)
all=$(printf '%s\n%s\n' "$OUT" "$ERR")
l64=$(printf '%s\n' "$all" | grep -nF "$row64" | head -n 1 | cut -d: -f1)
l7=$(printf '%s\n' "$all" | grep -nF "$row7" | head -n 1 | cut -d: -f1)
check_true "--minimize: table lists the lowest first (C=7 line $l7, C=64 line $l64)" [ "$l7" -lt "$l64" ]
check_true "--minimize: best setting is C=7: $best" grep -qx 7 <<<"$(tokens "$best")"
check_true "--minimize: best line does not name C=64" bash -c '! grep -qx 64' <<<"$(tokens "$best")"

# Two axes averaged over: settings are the remaining axis only.
cat >acc2.sh <<'EOF'
#!/bin/sh
# C=7: 0.1 0.2 0.3 0.4 -> mean 0.25, pop. std sqrt(0.0125) = 0.111803
# C=64: 0.5 0.5 0.5 0.5 -> mean 0.5, std 0
case "$1" in 7) echo "acc=0.$(( $2 * 2 + $3 ))";; 64) echo "acc=0.5";; esac
EOF
run_parc -k --best acc --average-over fold --average-over seed --grid C=7,64 \
  --grid fold=0,1 --grid seed=1,2 sh acc2.sh '{C}' '{fold}' '{seed}'
check_rc "--average-over twice" 0
row7=$(table_row 0.25)
row64=$(table_row 0.5)
check_ne "two averaged axes: a row for C=7 with mean 0.25" "" "$row7"
check_ne "two averaged axes: a row for C=64 with mean 0.5" "" "$row64"
check_true "two averaged axes: C=7 std 0.1118 ($(std_of "$row7"))" near "$(std_of "$row7")" 0.111803
check_true "two averaged axes: C=64 std 0 ($(std_of "$row64"))" near "$(std_of "$row64")" 0
check_true "two averaged axes: C=7 row counts 4 jobs" grep -qx 4 <<<"$(tokens "$row7")"
check_eq "two averaged axes: two settings" 2 "$(printf '%s\n%s\n' "$OUT" "$ERR" | grep -E '[0-9] *± *[0-9]' | grep -vic best)"

done_testing
