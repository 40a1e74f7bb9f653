#!/usr/bin/env bash
# --joblog in GNU parallel's format, --resume (keyed by command line, so a
# grown axis runs only the new jobs) and --resume-failed.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
mkdir m
header=$(printf 'Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand')

# --- format ------------------------------------------------------------
run_parc -k --joblog jl1 --shell 'echo {} >> m/log; [ {} != b ]' ::: a b c
check_rc "one failing job" 1
check_eq "joblog: GNU header line first" "$header" "$(head -n 1 jl1)"
check_eq "joblog: header plus one line per job" 4 "$(count_lines jl1)"
bad=$(awk -F'\t' 'NR > 1 && NF != 9' jl1)
check_eq "joblog: 9 TAB-separated fields per line" "" "$bad"
bad=$(awk -F'\t' 'NR > 1 && !($1 ~ /^[0-9]+$/ && $2 == ":" && $3 ~ /^[0-9]+\.[0-9]+$/ &&
      $4 ~ /^ *[0-9]+\.[0-9]+$/ && $5 == "0" && $6 == "0" && $7 ~ /^-?[0-9]+$/ && $8 ~ /^[0-9]+$/)' jl1)
check_eq "joblog: Seq, Host ':', Starttime, JobRuntime, Send 0, Receive 0, Exitval, Signal" "" "$bad"
check_eq "joblog: Seq is the job number" "1 2 3" "$(awk -F'\t' 'NR > 1 { print $1 }' jl1 | sort -n | tr '\n' ' ' | sed 's/ $//')"
check_eq "joblog: Exitval of the failed job" 1 "$(awk -F'\t' '$1 == 2 { print $7 }' jl1)"
check_eq "joblog: Exitval of a good job" 0 "$(awk -F'\t' '$1 == 3 { print $7 }' jl1)"
now=$(date +%s)
st=$(awk -F'\t' '$1 == 1 { print $3 }' jl1)
check_true "joblog: Starttime ($st) is seconds since the epoch" \
  awk -v s="$st" -v n="$now" 'BEGIN { exit !(s + 0 > n - 120 && s + 0 <= n + 1) }'

# Command: as a shell would read it, values quoted. Running it through sh
# must do what the job did.
printf '%s\n' 'for a in "$@"; do printf "[%s]\n" "$a"; done' >show.sh
vals=('a b' "it's" 'x;y' '$(echo no)' 'semi;colon "dq"' '*' '')
run_parc -k --joblog jl2 sh "$T/show.sh" ::: "${vals[@]}"
check_rc "joblog quoting run" 0
direct=$OUT
replay=$(awk -F'\t' 'NR > 1 { print $1 "\t" $9 }' jl2 | sort -n | cut -f2- |
         while IFS= read -r cmd; do sh -c "$cmd"; done)
check_eq "joblog: Command read by sh reproduces each job" "$direct" "$replay"
run_parc --joblog jl3 echo ::: hello
cmd=$(awk -F'\t' 'NR == 2 { print $9 }' jl3)
check_match "joblog: Command starts with the command word" '^echo ' "$cmd"
check_eq "joblog: Command read by sh runs the job" hello "$(sh -c "$cmd")"

# As GNU parallel: a second run cuts the log (it does not resume); with
# +FILE it appends, no second header.
run_parc --joblog jl3 echo ::: again
check_eq "joblog: a new run cuts the log" 2 "$(count_lines jl3)"
run_parc --joblog +jl3 echo ::: more
check_eq "joblog: +FILE appends, header only once" 1 "$(grep -c '^Seq' jl3)"
check_eq "joblog: +FILE appended line" 3 "$(count_lines jl3)"

# --- --resume: grow an axis, only the new jobs run ---------------------------
run_parc --joblog jl4 --results R --grid x=1,2 --shell 'echo run >> m/x{x}; echo acc={x}'
check_rc "first sweep" 0
run_parc --joblog jl4 --results R --resume --grid x=1,2,3,4 --shell 'echo run >> m/x{x}; echo acc={x}'
check_rc "resumed, grown sweep" 0
check_eq "--resume: old jobs not run again (x=1)" 1 "$(count_lines m/x1)"
check_eq "--resume: old jobs not run again (x=2)" 1 "$(count_lines m/x2)"
check_eq "--resume: new jobs ran (x=3)" 1 "$(count_lines m/x3)"
check_eq "--resume: new jobs ran (x=4)" 1 "$(count_lines m/x4)"
check_eq "--resume: joblog has each job once" 5 "$(count_lines jl4)"
check_eq "--resume: results.csv keeps earlier rows" \
  "$(lines 1 2 3 4)" "$(for x in 1 2 3 4; do csv_field R/results.csv x "$x" acc; done)"
check_eq "--resume: results.csv has one row per job" 5 "$(count_lines R/results.csv)"

run_parc --joblog jl4 --resume --grid x=1,2,3,4 --shell 'echo run >> m/x{x}; echo acc={x}'
check_eq "--resume of a complete sweep runs nothing" "1 1 1 1" \
  "$(for x in 1 2 3 4; do count_lines m/x$x; done | tr '\n' ' ' | sed 's/ $//')"
check_rc "--resume of a complete sweep" 0

# --resume also skips logged failures.
run_parc --joblog jl5 --shell 'echo run >> m/f{}; [ {} != b ]' ::: a b
run_parc --joblog jl5 --resume --shell 'echo run >> m/f{}; [ {} != b ]' ::: a b
check_eq "--resume skips a job logged as failed" 1 "$(count_lines m/fb)"

# --- --resume-failed ---------------------------------------------------
job='echo run >> m/r{}; echo acc={}; [ {} != b ] || [ -e ok ]'
run_parc --joblog jl6 --results R6 --shell "$job" ::: a b c
check_rc "first run, b fails" 1
check_eq "results.csv row of the failed job" 1 "$(csv_field R6/results.csv arg1 b exit)"
touch ok
run_parc --joblog jl6 --results R6 --resume-failed --shell "$job" ::: a b c
check_rc "--resume-failed run" 0
check_eq "--resume-failed: succeeded job a not run again" 1 "$(count_lines m/ra)"
check_eq "--resume-failed: failed job b run again" 2 "$(count_lines m/rb)"
check_eq "--resume-failed: succeeded job c not run again" 1 "$(count_lines m/rc)"
check_eq "--resume-failed: the re-run replaces the failed row" 0 "$(csv_field R6/results.csv arg1 b exit)"
check_eq "--resume-failed: one row per job" 4 "$(count_lines R6/results.csv)"
run_parc --joblog jl6 --resume-failed --shell "$job" ::: a b c
check_eq "--resume-failed after everything succeeded runs nothing" "1 2 1" \
  "$(for v in a b c; do count_lines m/r$v; done | tr '\n' ' ' | sed 's/ $//')"

done_testing
