#!/usr/bin/env bash
# results.csv is always valid UTF-8, whatever bytes the values (--grid,
# :::), the metrics (key=value lines, a JSON last line) or an earlier
# results.csv kept by --resume hold: a byte that does not begin a valid
# sequence becomes U+FFFD (as Python's errors="replace"); valid text,
# ü or 漢, stays as it is. The job log and output files keep the exact bytes.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

FFFD=$(printf '\357\277\275')
bad1=$(printf 'a\377b')      # a byte that is never UTF-8
bad2=$(printf 'c\303(')      # a lead byte without its continuation
bad3=$(printf '\355\240\200') # a surrogate (U+D800), not UTF-8
bad4=$(printf '\300\257')    # an overlong "/"

valid_utf8() { iconv -f UTF-8 -t UTF-8 -o /dev/null "$1" 2>/dev/null; }

cat >job.sh <<'EOF'
#!/bin/sh
printf 'acc=%s\n' "$1"
printf 'note=x\377y\n'
printf '{"loss": 0.5, "name": "\303z\377", "ok": true}\n'
EOF

run_parc --results R --joblog jl --grid "g=ü,漢,$bad1" sh job.sh '{g}' '{2}' ::: "$bad2" "$bad3" "$bad4"
check_rc "a sweep with invalid UTF-8 in values and metrics" 0
check_true "results.csv is valid UTF-8" valid_utf8 R/results.csv
check_eq "results.csv has one row per job" 10 "$(count_lines R/results.csv)"
check_eq "a value's invalid byte became U+FFFD" 3 \
  "$(csv_field R/results.csv g "a${FFFD}b" job | wc -l | tr -d ' ')"
check_eq "valid UTF-8 values are kept" "3 3" \
  "$(csv_field R/results.csv g ü job | wc -l | tr -d ' ') $(csv_field R/results.csv g 漢 job | wc -l | tr -d ' ')"
check_eq "a lead byte without its continuation became U+FFFD" 3 \
  "$(csv_field R/results.csv arg2 "c${FFFD}(" job | wc -l | tr -d ' ')"
check_eq "a metric's invalid byte became U+FFFD" "x${FFFD}y" \
  "$(csv_field R/results.csv job 1 note)"
check_eq "the metric taken from the value as it is in the table" "a${FFFD}b" \
  "$(csv_field R/results.csv g "a${FFFD}b" acc | head -n 1)"
check_eq "the output files keep the exact bytes" "acc=$bad1" \
  "$(head -n 1 R/g=a_b,arg2=c__~*/stdout 2>/dev/null)"
check_eq "the job log keeps the exact bytes (it is the resume key)" 3 \
  "$(LC_ALL=C grep -c -F -- "$bad2" jl)"
if command -v python3 >/dev/null 2>&1; then
  check_eq "Python reads results.csv as strict UTF-8 CSV" "10 rows" \
    "$(python3 -c 'import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8", errors="strict", newline="")))
print(len(rows), "rows")' R/results.csv 2>&1)"
fi

# --resume keeps the rows: no job runs again, none is duplicated, even if
# their values are not UTF-8 (the key is the value as in the table).
run_parc --results R --joblog jl --resume --grid "g=ü,漢,$bad1" sh job.sh '{g}' '{2}' ::: "$bad2" "$bad3" "$bad4"
check_rc "--resume of the sweep" 0
check_eq "--resume: nothing ran again" "" "$OUT"
check_eq "--resume: still one row per job" 10 "$(count_lines R/results.csv)"

# An earlier results.csv with invalid bytes (written by hand, or by an
# older parc) is made valid when --resume rewrites it.
printf 'job,arg1,exit,signal,start,runtime,host,acc\n1,\377,0,0,1.000,1.000,h\376,\375\n' >R2.csv
mkdir R2
mv R2.csv R2/results.csv
run_parc --results R2 --joblog jl2 --resume echo acc=1 ::: new
check_rc "--resume over an earlier results.csv with invalid bytes" 0
check_true "the rewritten results.csv is valid UTF-8" valid_utf8 R2/results.csv
check_eq "the earlier row is kept, made valid" "h$FFFD $FFFD" \
  "$(csv_field R2/results.csv arg1 "$FFFD" host) $(csv_field R2/results.csv arg1 "$FFFD" acc)"
check_eq "beside the new job's row" 3 "$(count_lines R2/results.csv)"

# A metric key longer than a column name may be (120 bytes) is cut at a
# character boundary: 'a' and 60 é (2 bytes each) keep 'a' and 59 é, not
# half of the 60th (which would read as U+FFFD).
e59=$(printf 'é%.0s' $(seq 59))
cat >long.sh <<'EOF'
#!/bin/sh
printf '{"a%s": 1}\n' "$1"
EOF
run_parc --results R3 sh long.sh "${e59}é" ::: x
check_rc "a JSON key of 121 bytes" 0
check_true "results.csv is valid UTF-8" valid_utf8 R3/results.csv
check_eq "the long key cut before its last character, not inside it" \
  "a$e59" "$(csv_header R3/results.csv | tail -n 1)"
check_eq "its value is in that column" 1 "$(csv_field R3/results.csv job 1 "a$e59")"

done_testing
