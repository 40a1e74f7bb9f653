#!/usr/bin/env bash
# -j N runs N jobs at once (no more, no fewer); N% of the cores; the default
# is one per core; {%} names distinct lanes of jobs running together.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

if command -v lscpu >/dev/null 2>&1; then
  cores=$(lscpu -p=socket,core | grep -v '^#' | sort -u | wc -l | tr -d ' ')
else
  cores=$(nproc)
fi

# Rendezvous: each of the first N jobs announces itself, then waits (up to
# 10 s) until N jobs are present at once; it succeeds only if N ran together.
# Every job records how many it saw running (a job removes its file before
# it exits, so a lane frees only after that): never more than N.
rendezvous() { # N
  echo "touch run/{#}; echo {%} > slot/{#}; i=0
    if [ {#} -le $1 ]; then
      until [ \$(ls run | wc -l) -ge $1 ]; do i=\$((i+1)); [ \$i -gt 600 ] && break; sleep 0.05; done
    fi
    n=\$(ls run | wc -l); echo \$n >> seen; sleep 0.1; rm run/{#}; [ {#} -gt $1 ] || [ \$n -ge $1 ]"
}
fresh() { rm -rf run slot seen && mkdir run slot; }

fresh
run_parc -j 3 --shell "$(rendezvous 3)" ::: 1 2 3 4 5 6
check_rc "-j 3: three jobs ran together" 0
check_eq "-j 3: never more than 3 at once" 3 "$(sort -n seen | tail -n 1)"
check_eq "-j 3: {%} of concurrent jobs are 1..3, distinct" "1 2 3" \
  "$(cat slot/1 slot/2 slot/3 | sort -n | tr '\n' ' ' | sed 's/ $//')"
bad=$(cat slot/* | grep -Ev '^[123]$')
check_eq "-j 3: every {%} within 1..3" "" "$bad"

fresh
run_parc -j 1 --shell "$(rendezvous 1)" ::: 1 2 3
check_rc "-j 1 run" 0
check_eq "-j 1: one job at a time" 1 "$(sort -n seen | tail -n 1)"

fresh
run_parc -j 1% --shell "$(rendezvous 1)" ::: 1 2
check_eq "-j 1%: at least one lane, and only one" 1 "$(sort -n seen | tail -n 1)"

fresh
run_parc -j 100% --shell "$(rendezvous "$cores")" ::: $(seq $((cores + 1)))
check_rc "-j 100%: one job per core ran together" 0
check_eq "-j 100%: never more than one per core" "$cores" "$(sort -n seen | tail -n 1)"

fresh
run_parc --shell "$(rendezvous "$cores")" ::: $(seq $((cores + 1)))
check_rc "default -j: one job per core ran together" 0
check_eq "default -j: never more than one per core" "$cores" "$(sort -n seen | tail -n 1)"

if [ "$cores" -ge 2 ]; then
  fresh
  half=$((cores / 2))
  run_parc -j 50% --shell "$(rendezvous "$half")" ::: $(seq $((half + 1)))
  check_rc "-j 50%: half the cores ran together" 0
  check_eq "-j 50%: never more than half the cores" "$half" "$(sort -n seen | tail -n 1)"
fi

fresh
run_parc --jobs 4 --shell "$(rendezvous 4)" ::: 1 2 3 4 5
check_rc "--jobs 4 (long form, more jobs than cores)" 0
check_eq "--jobs 4: never more than 4" 4 "$(sort -n seen | tail -n 1)"

done_testing
