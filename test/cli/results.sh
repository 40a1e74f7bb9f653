#!/usr/bin/env bash
# --results DIR: per-job stdout/stderr directories (named axis=value,...,
# sanitised, never outside DIR), and DIR/results.csv: fixed columns, one
# column per metric (key=value lines, JSON last line, metric. prefix on
# clashes), rewritten as jobs finish.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

# --- directory naming --------------------------------------------------
run_parc -k --results R1 --grid C=1,2 --grid kernel=rbf --shell \
  'echo acc={C}; echo to-err-{kernel} >&2'
check_rc "grid run with --results" 0
check_eq "stdout kept in DIR/C=1,kernel=rbf/stdout" "acc=1" "$(cat 'R1/C=1,kernel=rbf/stdout')"
check_eq "stdout kept in DIR/C=2,kernel=rbf/stdout" "acc=2" "$(cat 'R1/C=2,kernel=rbf/stdout')"
check_eq "stderr kept in DIR/C=1,kernel=rbf/stderr" "to-err-rbf" "$(cat 'R1/C=1,kernel=rbf/stderr')"
check_file "results.csv written" R1/results.csv

run_parc -k --results R2 echo ::: a ::: b c
check_eq "positional sources named arg1, arg2" "a b" "$(cat 'R2/arg1=a,arg2=b/stdout')"
check_eq "positional sources named arg1, arg2 (second job)" "a c" "$(cat 'R2/arg1=a,arg2=c/stdout')"

long=$(printf 'x%.0s' $(seq 300))
vals=('../escape' '/abs/path' '..' '.' 'x/../../y' 'a b' 'a?b' 'a_b' 'a.b_c+d-e'
      "$long" "${long}y")
run_parc --results R3 printf %s ::: "${vals[@]}"
check_rc "awkward values with --results" 0
check_eq "nothing written beside DIR" "R1 R2 R3" "$(ls | tr '\n' ' ' | sed 's/ $//')"
check_absent "'../escape' did not escape DIR" "$T/escape"
check_eq "one directory per job, each directly in DIR" "${#vals[@]}" \
  "$(find R3 -mindepth 2 -name stdout | wc -l | tr -d ' ')"
check_eq "no stdout file deeper than DIR/<name>/stdout" "" \
  "$(find R3 -mindepth 3 -name stdout)"
got=$(for f in R3/*/stdout; do cat "$f"; echo; done | sort)
check_eq "each job's directory holds its own output" \
  "$(printf '%s\n' "${vals[@]}" | sort)" "$got"
check_file "a name made of kept bytes is used as is" 'R3/arg1=a.b_c+d-e/stdout'
check_file "'a_b' (nothing changed) is used as is" 'R3/arg1=a_b/stdout'
check_eq "'..' is a kept name" ".." "$(cat 'R3/arg1=../stdout')"
changed=$(cd R3 && ls -d arg1=a_b?* 2>/dev/null | wc -l | tr -d ' ')
check_eq "'a b' and 'a?b' get a_b plus a hash, distinct directories" 2 "$changed"
bad=$(cd R3 && ls | grep -v '^results\.csv$' | grep -Ev '^arg1=[A-Za-z0-9._+-]*([^A-Za-z0-9][0-9A-Za-z]{6,})?$')
check_eq "directory names keep only letters, digits and . _ + - (then a hash)" "" "$bad"
toolong=$(cd R3 && ls | awk 'length($0) > 255')
check_eq "long values are cut to a valid name length" "" "$toolong"

# --- results.csv columns and values --------------------------------------
cat >"$T/job.sh" <<'EOF'
#!/bin/sh
echo "some text"
echo "acc=0.$1"
echo "1bad=3"
echo "not a metric = 4"
echo "loss_v.2=0.25"
echo "_u=9"
if [ "$1" = 1 ]; then
  echo "C=99"
  echo "exit=7"
  echo '{"f1": 0.75, "name": "x y", "ok": true, "nested": {"a": 1}, "arr": [1, 2], "job": 5}'
else
  echo "extra=1"
fi
EOF
t0=$(date +%s.%N)
run_parc -k --results R4 --grid C=1,2 sh "$T/job.sh" '{C}'
t1=$(date +%s.%N)
check_rc "metrics run" 0
csv=R4/results.csv
check_eq "results.csv: one header and one row per job" 3 "$(count_lines "$csv")"
check_eq "fixed columns first: job, axes, exit, signal, start, runtime, host" \
  "job,C,exit,signal,start,runtime,host" "$(head -n 1 "$csv" | cut -d, -f1-7)"
metrics=$(head -n 1 "$csv" | cut -d, -f8- | tr ',' '\n' | sort | tr '\n' ' ')
check_eq "metric columns (key=value, JSON last line, metric. on clashes)" \
  "_u acc extra f1 loss_v.2 metric.C metric.exit metric.job name ok " "$metrics"
check_eq "job 1: axis value" 1 "$(csv_field "$csv" job 1 C)"
check_eq "job 2: axis value" 2 "$(csv_field "$csv" job 2 C)"
check_eq "job 1: exit" 0 "$(csv_field "$csv" job 1 exit)"
check_eq "job 1: signal" 0 "$(csv_field "$csv" job 1 signal)"
check_eq "job 1: host" "$(uname -n)" "$(csv_field "$csv" job 1 host)"
check_eq "job 1: key=value metric" 0.1 "$(csv_field "$csv" job 1 acc)"
check_eq "job 2: key=value metric" 0.2 "$(csv_field "$csv" job 2 acc)"
check_eq "job 1: key with digits, _ and ." 0.25 "$(csv_field "$csv" job 1 loss_v.2)"
check_eq "job 1: key starting with _" 9 "$(csv_field "$csv" job 1 _u)"
check_eq "job 1: key clashing with an axis is metric.C" 99 "$(csv_field "$csv" job 1 metric.C)"
check_eq "job 1: key clashing with a fixed column is metric.exit" 7 "$(csv_field "$csv" job 1 metric.exit)"
check_eq "job 1: axis column keeps the axis value despite the clash" 1 "$(csv_field "$csv" job 1 C)"
check_eq "job 1: exit column keeps the exit status despite the clash" 0 "$(csv_field "$csv" job 1 exit)"
check_eq "job 1: JSON number" 0.75 "$(csv_field "$csv" job 1 f1)"
check_eq "job 1: JSON string" "x y" "$(csv_field "$csv" job 1 name)"
check_eq "job 1: JSON boolean" true "$(csv_field "$csv" job 1 ok)"
check_eq "job 1: JSON key clashing with job is metric.job" 5 "$(csv_field "$csv" job 1 metric.job)"
check_eq "job 1: metric it did not print is empty" "" "$(csv_field "$csv" job 1 extra)"
check_eq "job 2: metric it printed" 1 "$(csv_field "$csv" job 2 extra)"
check_eq "job 2: metric it did not print is empty" "" "$(csv_field "$csv" job 2 f1)"
start=$(csv_field "$csv" job 1 start)
check_true "job 1: start ($start) is seconds since the epoch, within the run" \
  awk -v s="$start" -v a="$t0" -v b="$t1" 'BEGIN { exit !(s + 0 >= a - 1 && s + 0 <= b + 1) }'
runtime=$(csv_field "$csv" job 1 runtime)
check_match "job 1: runtime is a number of seconds" '^[0-9]+(\.[0-9]+)?$' "$runtime"

# Failures, signals and a slow job's run time.
run_parc --results R5 --shell \
  'case {} in fail) exit 3;; sig) kill -TERM $$; sleep 5;; slow) sleep 0.5;; esac' \
  ::: ok fail sig slow
check_rc "two failed jobs" 2
csv=R5/results.csv
check_eq "exit status of a failed job" 3 "$(csv_field "$csv" arg1 fail exit)"
check_eq "signal of a failed job" 0 "$(csv_field "$csv" arg1 fail signal)"
check_eq "exit of a job killed by a signal is -1" -1 "$(csv_field "$csv" arg1 sig exit)"
check_eq "signal that ended the job" 15 "$(csv_field "$csv" arg1 sig signal)"
check_true "run time of a 0.5 s job is at least 0.4" \
  awk -v r="$(csv_field "$csv" arg1 slow runtime)" 'BEGIN { exit !(r + 0 >= 0.4) }'
check_eq "job numbers follow input order" "$(lines 1 2 3 4)" \
  "$(for v in ok fail sig slow; do csv_field "$csv" arg1 "$v" job; done)"

# CSV quoting of values with a comma or a double quote (RFC 4180).
run_parc --results R6 --grid 'v=a\,b,q"x' printf %s '{v}'
check_eq "\\, in --grid is a comma inside a value" "a,b" "$(csv_field R6/results.csv job 1 v)"
check_eq "a value with a double quote survives CSV quoting" 'q"x' "$(csv_field R6/results.csv job 2 v)"
check_eq "CSV rows stay one line each" 3 "$(count_lines R6/results.csv)"

# results.csv is rewritten as jobs finish, not only at the end: the slow job
# waits until the quick job's row is there.
job="if [ {} = slow ]; then i=0; until grep -q '^1,' R7/results.csv 2>/dev/null; do i=\$((i+1)); [ \$i -gt 600 ] && exit 1; sleep 0.05; done; fi; echo {}"
run_parc -j 2 --results R7 --shell "$job" ::: quick slow
check_rc "results.csv updated while a job still runs" 0
check_eq "results.csv has both rows at the end" 3 "$(count_lines R7/results.csv)"

# An earlier results.csv with CRLF line endings (RFC 4180's; Excel writes
# them) is read as such: no \r stays in its last column, for --resume and
# for `parc plan --from`.
mkdir R8
printf 'job,arg1,exit,signal,start,runtime,host,acc\r\n1,old,0,0,1.000,1.000,h,0.5\r\n' \
  >R8/results.csv
run_parc -q --results R8 --joblog R8.log --resume printf 'acc=1\n%s\n' ::: new
check_rc "--resume over a results.csv with CRLF line endings" 0
check_eq "CRLF: the header read without \\r (no second acc column)" \
  "job,arg1,exit,signal,start,runtime,host,acc" "$(head -n 1 R8/results.csv)"
check_eq "CRLF: the earlier row's last cell read without \\r" 0.5 \
  "$(csv_field R8/results.csv arg1 old acc)"
check_eq "CRLF: beside the new job's row" 1 "$(csv_field R8/results.csv arg1 new acc)"
printf 'job,exit,runtime\r\n1,0,4\r\n2,0,8\r\n' >crlf.csv
run_parc_cmd plan --from crlf.csv --tasks 4 --deadline 12
check_contains "CRLF: parc plan --from finds the runtime column" \
  "Task times: 2 successful jobs in crlf.csv -- min 4 s, median 6 s" "$OUT"

done_testing
