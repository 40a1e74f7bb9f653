#!/usr/bin/env bash
# Output: -k prints in input order; without it a job's output still comes
# in one piece (never interleaved); --tag; --line-buffer.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

# -k with jobs that finish in another order than they start.
run_parc -k -j 4 --shell 'sleep {}; echo {}; echo err{} >&2' ::: 0.6 0.2 0.4 0
check_rc "-k run" 0
check_eq "-k prints stdout in input order" "$(lines 0.6 0.2 0.4 0)" "$OUT"
check_eq "-k prints stderr in input order" "$(lines err0.6 err0.2 err0.4 err0)" \
  "$(grep '^err' "$ERR_FILE")"

# -k holds output, not jobs: while job 1 still runs, later jobs start on the
# free lane (job 1 waits until job 3 has started).
rm -rf started && mkdir started
job='touch started/{}; if [ {} = 1 ]; then i=0; until [ -e started/3 ]; do i=$((i+1)); [ $i -gt 600 ] && exit 1; sleep 0.05; done; fi; echo {}'
run_parc -k -j 2 --shell "$job" ::: 1 2 3
check_rc "-k: later jobs run while an earlier one is still running" 0
check_eq "-k: output still in input order" "$(lines 1 2 3)" "$OUT"

# Without -k, a job's output is printed when it ends: the slow job (input
# first) waits until the quick job's line is in parc's output file.
out="$T/finish.out"
job="if [ {} = slow ]; then i=0; until grep -q quick '$out'; do i=\$((i+1)); [ \$i -gt 600 ] && exit 1; sleep 0.05; done; fi; echo {}"
timeout -k 5 60 "$PARC" run -j 2 --shell "$job" ::: slow quick \
  </dev/null >"$out" 2>"$T/finish.err"
RC=$?
check_eq "without -k, a finished job prints before a running one ends (exit)" 0 "$RC"
check_eq "without -k, output comes as jobs finish" "$(lines quick slow)" "$(cat "$out")"

# Two jobs writing many lines with pauses in between: without -k each job's
# output must still come out in one piece.
job='for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo {} $i; echo {} $i >&2; sleep 0.02; done'
run_parc -j 2 --shell "$job" ::: A B
check_rc "interleave run" 0
check_eq "all lines of both jobs printed" 40 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')"
runs=$(printf '%s\n' "$OUT" | cut -d' ' -f1 | uniq | wc -l | tr -d ' ')
check_eq "stdout of two concurrent jobs does not interleave" 2 "$runs"
check_eq "each job's lines stay in order" \
  "$(for i in $(seq 20); do echo "A $i"; done)" "$(grep '^A' "$OUT_FILE")"
eruns=$(grep -E '^[AB] ' "$ERR_FILE" | cut -d' ' -f1 | uniq | wc -l | tr -d ' ')
check_eq "stderr of two concurrent jobs does not interleave" 2 "$eruns"

# --tag: each line is prefixed by the job's values and a TAB.
run_parc -k --tag --shell 'echo one; echo two; : {}' ::: a b
check_eq "--tag prefixes every line with the value and a TAB" \
  "$(printf 'a\tone\na\ttwo\nb\tone\nb\ttwo')" "$OUT"

# GNU parallel 20221122: `parallel -k --tag echo hi ::: a b ::: 1`.
run_parc -k --tag echo hi ::: a b ::: 1
check_eq "--tag with two sources (as GNU parallel)" \
  "$(printf 'a 1\thi a 1\nb 1\thi b 1')" "$OUT"

# --line-buffer: a line reaches parc's stdout while the job still runs. The
# job prints a line, then waits (up to 10 s) until it sees that line in
# parc's output file, and only then prints its last line and succeeds.
out="$T/lb.out"
job="echo early-{}; i=0; until grep -q early-{} '$out'; do i=\$((i+1)); [ \$i -gt 600 ] && exit 1; sleep 0.05; done; echo late-{}"
timeout -k 5 60 "$PARC" run --line-buffer -j 2 --shell "$job" ::: p q \
  </dev/null >"$out" 2>"$T/lb.err"
RC=$?
check_eq "--line-buffer prints lines while the job runs (exit)" 0 "$RC"
check_eq "--line-buffer: every line printed once" \
  "$(lines early-p early-q late-p late-q)" "$(sort "$out")"

# --line-buffer: lines are whole even when a job writes a line in pieces.
half='for i in 1 2 3 4 5 6 7 8 9 10; do printf AAAAAAAAAA; sleep 0.03; printf AAAAAAAAAA"\n"; done'
full='for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do echo BBBBBBBBBBBBBBBBBBBB; sleep 0.015; done'
run_parc --line-buffer -j 2 --shell 'sh -c {}' ::: "$half" "$full"
check_rc "--line-buffer pieces run" 0
bad=$(printf '%s\n' "$OUT" | grep -Ev '^(A{20}|B{20})$')
check_eq "--line-buffer never mixes lines of two jobs" "" "$bad"
check_eq "--line-buffer keeps every line" 30 "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')"

done_testing
