#!/usr/bin/env bash
# SIGKILL of `parc run` at random moments, then --resume at once, over and
# over: no job is ever lost or duplicated. Every kill lands somewhere: in
# the start-up, while jobs run, while a finished job is written down. The
# jobs print output, metrics (key=value and a JSON last line) and stderr,
# and are left running as orphans by each kill; the resume started at once
# must not run a job while its orphan still runs (the lock). When a sweep
# completes, every job has exactly one job log line, one results.csv row
# (valid UTF-8, a well-formed CSV) and its output files; no temporary file
# is left. Then a new sweep starts in a fresh directory.
#
# CRASH_ROUNDS (default 60) kills; the kill times come from a fixed seed.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
ROUNDS=${CRASH_ROUNDS:-60}
RANDOM=20210612

# A job: marks itself running (mkdir is atomic: a second copy of the same
# job at the same time leaves a line in $T/overlap), prints, ends. SIGPIPE
# is ignored so that an orphan whose parc is gone still unmarks itself.
cat >job.sh <<'EOF'
#!/bin/sh
trap '' PIPE
mkdir "$T/running/$PARC_JOB" 2>/dev/null || echo "job $PARC_JOB" >>"$T/overlap"
sleep "0.0$(($1 % 4))"
echo "start $1 $2"
echo "err $1 $2" >&2
echo "acc=$1"
printf '{"loss": 0.%s, "name": "%s"}\n' "$1" "$1"
rmdir "$T/running/$PARC_JOB" 2>/dev/null
exit 0
EOF
export T
mkdir running

NX=50
YS=(p 'ü' 'c,"d')
NJOBS=$((NX * ${#YS[@]}))
sweep=(-j 4 --joblog jl --results R --grid x=1:$NX --grid "y=p,ü,c\\,\"d"
       sh "$T/job.sh" '{x}' '{y}')

# csv_shape FILE: the number of fields of each record (RFC 4180: quoted
# fields may hold commas, quotes and newlines), "BAD" for a malformed one.
csv_shape() {
  awk 'BEGIN { start = 1 }
    { for (i = 1; i <= length($0); i++) {
        c = substr($0, i, 1)
        if (q) {
          if (c == "\"") {
            if (substr($0, i + 1, 1) == "\"") i++; else { q = 0; after = 1 }
          }
          continue
        }
        if (c == ",") { nf++; start = 1; after = 0; continue }
        if (c == "\"" && start) q = 1
        else if (c == "\"" || after) bad = 1
        start = 0
      }
      if (q) next
      print (bad ? "BAD" : nf + 1); nf = 0; start = 1; after = 0; bad = 0 }
    END { if (q) print "BAD (open quote at the end)" }' "$1"
}

# check_sweep DIR: the invariants of a completed sweep in DIR.
check_sweep() {
  local d=$1 ncol lines bad x y want got i
  check_eq "[$d] no temporary file left" "" \
    "$(ls -a "$d" "$d/R" | grep -F '.tmp')"
  check_eq "[$d] no job ran twice at the same time" "" "$(cat overlap 2>/dev/null)"
  check_eq "[$d] job log: the header once" 1 "$(grep -c '^Seq' "$d/jl")"
  check_eq "[$d] job log: ends with a newline" "" "$(tail -c 1 "$d/jl")"
  check_eq "[$d] job log: exactly one line per job" "$(seq $NJOBS)" \
    "$(awk -F'\t' 'NR > 1 { print $1 }' "$d/jl" | sort -n)"
  check_eq "[$d] job log: every job succeeded" "" \
    "$(awk -F'\t' 'NR > 1 && ($7 != 0 || $8 != 0)' "$d/jl")"
  check_true "[$d] results.csv is valid UTF-8" \
    iconv -f UTF-8 -t UTF-8 -o /dev/null "$d/R/results.csv"
  check_eq "[$d] results.csv: exactly one row per job" "$(seq $NJOBS)" \
    "$(awk -F, 'NR > 1 { print $1 }' "$d/R/results.csv" | sort -n)"
  ncol=$(csv_shape "$d/R/results.csv" | head -n 1)
  check_eq "[$d] results.csv: every record has the header's $ncol fields" \
    "$ncol" "$(csv_shape "$d/R/results.csv" | sort -u)"
  check_eq "[$d] results.csv: each row has its job's metric" "" \
    "$(paste <(csv_field "$d/R/results.csv" exit 0 x) \
             <(csv_field "$d/R/results.csv" exit 0 acc) | awk '$1 != $2')"
  check_eq "[$d] output files: one stdout and one stderr per job" "$NJOBS $NJOBS" \
    "$(find "$d/R" -name stdout | wc -l | tr -d ' ') $(find "$d/R" -name stderr | wc -l | tr -d ' ')"
  want=$(for x in $(seq $NX); do for y in "${YS[@]}"; do
           printf 'start %s %s|acc=%s|{"loss": 0.%s, "name": "%s"}|err %s %s\n' \
             "$x" "$y" "$x" "$x" "$x" "$x" "$y"; done; done | sort)
  # Each job directory's stderr, then its stdout (sorted so), as one line.
  got=$(find "$d/R" -mindepth 2 -type f | LC_ALL=C sort | awk '
    { f = $0; s = ""; while ((getline l < f) > 0) s = s (s == "" ? "" : "|") l
      close(f); if (f ~ /\/stderr$/) err = s; else print s "|" err }' | sort)
  check_eq "[$d] output files: each job's whole stdout and stderr" "$want" "$got"
  if command -v python3 >/dev/null 2>&1; then
    check_eq "[$d] results.csv read by Python's csv module" "$((NJOBS + 1)) rows of $ncol" \
      "$(python3 -c 'import csv, sys
rows = list(csv.reader(open(sys.argv[1], encoding="utf-8", newline="")))
print(len(rows), "rows of", *sorted({len(r) for r in rows}))' "$d/R/results.csv" 2>&1)"
  fi
}

# The kill: mostly while jobs run and finish (up to 0.5 s), one in five
# during the start-up (the first 15 ms).
kill_delay() {
  if [ $((RANDOM % 5)) = 0 ]; then printf '0.%03d' $((RANDOM % 15))
  else printf '0.%03d' $((RANDOM % 500)); fi
}

epoch=1
mkdir e1
cd e1 || exit 1
kills=0 refused=0 completed=0 resume=()
t_start=$(date +%s)
while [ "$kills" -lt "$ROUNDS" ]; do
  before=$(cat jl R/results.csv 2>/dev/null | cksum)
  start_parc_bg "${resume[@]+"${resume[@]}"}" "${sweep[@]}"
  sleep "$(kill_delay)"
  kill -KILL "$BG_PID" 2>/dev/null
  wait "$BG_PID" 2>/dev/null
  RC=$?
  case $RC in
    137) kills=$((kills + 1)) ;;
    0) completed=$((completed + 1))
       cd "$T" || exit 1
       wait_for 10 test -z "$(ls running)" || fail "orphaned jobs did not end"
       check_sweep "e$epoch"
       epoch=$((epoch + 1))
       mkdir "e$epoch"
       cd "e$epoch" || exit 1
       resume=()
       continue ;;
    2) ERR=$(cat "$ERR_FILE")
       check_contains "a refused run says why" "is in use" "$ERR"
       check_eq "a refused run changed nothing" "$before" \
         "$(cat jl R/results.csv 2>/dev/null | cksum)"
       refused=$((refused + 1))
       sleep 0.2 ;;
    *) fail "parc run ended with $RC: $(cat "$ERR_FILE")" ;;
  esac
  # The next run starts at once, while the killed run's jobs may still run.
  if [ $((RANDOM % 4)) = 0 ]; then resume=(--resume-failed); else resume=(--resume); fi
done
# The last sweep, to its end.
run_parc --resume "${sweep[@]}"
check_rc "the last resume" 0
cd "$T" || exit 1
wait_for 10 test -z "$(ls running)" || fail "orphaned jobs did not end"
check_sweep "e$epoch"
echo "# $kills kills, $completed sweeps completed between them, $refused runs refused, $(($(date +%s) - t_start)) s"
check_true "at least 50 kills ($kills)" [ "$kills" -ge 50 ]
done_testing
