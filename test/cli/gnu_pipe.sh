#!/usr/bin/env bash
# --pipe: stdin cut into chunks at line ends, each chunk one job's stdin,
# as GNU parallel 20221122 cuts it (the expected outputs are GNU's): -N
# records per chunk, about --block bytes per chunk, a record longer than a
# block (the block grows, with GNU's warning), the last chunk without its
# newline, an empty stdin (no job), {#} and -k, Send/Receive in the log.
# Then what GNU does not show: the chunks stream (the first job starts
# before stdin ends), and a job that never reads its stdin holds nothing up.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1
flat() { tr '\n' ' ' <"$OUT_FILE" | sed -e 's/ $//'; }
pipe() { # INPUT-FILE ARGS...: parc run --pipe ARGS < INPUT-FILE
  local input=$1
  shift
  PARC_STDIN=$input run_parc --pipe "$@"
}

seq 10 >ten
seq 30 >thirty
seq 100000 >many
printf '1234567890\nab\ncd\nef\n' >long
printf 'a\nbb\nccc' >nonl
printf 'x\n\ny\n\n\nz\n' >blank
printf 'ab\ncd\nef\ngh\n' >four
: >empty

# --- how the chunks are cut ---------------------------------------------
pipe ten -k -N3 wc -l
check_rc "-N3" 0
check_eq "-N3: chunks of 3 records, the rest last" "3 3 3 1" "$(flat)"
pipe thirty -k --block 20 wc -c
check_eq "--block 20: up to the last line end within each block" \
  "18 18 18 18 9" "$(flat)"
pipe four -k --block 5 wc -c
check_eq "--block 5: one 3-byte record per chunk" "3 3 3 3" "$(flat)"
pipe many -k wc -l
check_eq "default --block 1M: one chunk" 100000 "$(flat)"
pipe many -k --block 100k wc -l
check_eq "--block 100k" "18517 16666 16666 16666 16666 14819" "$(flat)"
pipe nonl -k -N2 wc -c
check_eq "the last chunk without its newline goes as it is" "5 3" "$(flat)"
pipe nonl -k cat
check_eq "the bytes are passed as they are" "$(printf 'a\nbb\nccc')" "$OUT"
pipe blank -k -N1 wc -c
check_eq "-N1 and empty lines: GNU's counting (an empty first record joins the next)" \
  "2 3 2 2" "$(flat)"

# --- a record longer than the block ---------------------------------------
pipe long -k --block 4 wc -c
check_rc "a record longer than --block" 0
check_eq "a record longer than --block: the block grows to hold it" "11 9" "$(flat)"
check_eq "GNU's warnings, each growth" \
  "parc run: Warning: A record was longer than 4. Increasing to --blocksize 7.
parc run: Warning: A record was longer than 7. Increasing to --blocksize 11." "$ERR"
pipe ten -k -N3 --block 5 wc -l
check_eq "-N3 with a block too small for 3 records" "3 3 3 1" "$(flat)"
check_eq "-N3 --block 5: one growth" \
  "parc run: Warning: A record was longer than 5. Increasing to --blocksize 8." "$ERR"

# --- no input, {#}, -k, exit status, the job log ----------------------------
pipe empty -k echo ran
check_rc "an empty stdin" 0
check_eq "an empty stdin: no job" "" "$OUT"
pipe ten -k -N2 echo '{#}'
check_eq "{#}: the chunk's number" "1 2 3 4 5" "$(flat)"
pipe ten -k -j4 -N1 sh -c 'sleep 0.0$((10 - PARALLEL_SEQ)); cat'
check_eq "-k: outputs in chunk order whatever the order they end" \
  "$(seq 10 | tr '\n' ' ' | sed -e 's/ $//')" "$(flat)"
pipe ten -k -N3 sh -c 'cat >/dev/null; exit $PARALLEL_SEQ'
check_rc "each chunk's job fails: the count of failed jobs" 4
pipe ten -k -N4 --joblog jl cat
check_eq "the job log: Send is the chunk's bytes, Receive the output's" \
  "1 8 8 cat|2 8 8 cat|3 5 5 cat" \
  "$(awk -F'\t' 'NR > 1 { printf "%s%s %s %s %s", sep, $1, $5, $6, $9; sep = "|" }' jl)"

# --- streaming: a job starts before stdin ends -----------------------------
# The producer writes more than one block, then waits (up to 20 s) for the
# first job to have started before it writes the rest and ends. A parc that
# read all of stdin first would start no job until the producer gave up.
producer() {
  seq 1 400
  i=0
  while [ ! -e "$T/started" ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done
  if [ -e "$T/started" ]; then echo streamed >"$T/how"; else echo buffered >"$T/how"; fi
  seq 401 800
}
producer | timeout -k 5 60 "$PARC" run -q --pipe --block 1k -k \
  sh -c 'touch "$0"; wc -l' "$T/started" >"$T/.parc.out" 2>"$T/.parc.err"
check_eq "streaming: the first job ran while stdin was still open" streamed \
  "$(cat how 2>/dev/null)"
check_eq "streaming: every line reached a job" 800 \
  "$(awk '{ n += $1 } END { print n }' .parc.out)"

# --- jobs that do not read their stdin --------------------------------------
# 5 MB in 2 MiB chunks to jobs that never read: each ends, the rest of its
# chunk is dropped, nothing waits on a full pipe. (GNU parallel 20221122
# may count such jobs as failed: parc does not.)
head -c 5000000 /dev/zero | tr '\0' x | fold -w 100 >big
pipe big -k --block 2M --joblog jl2 true
check_rc "jobs that do not read their stdin" 0
check_eq "three chunks, as GNU cuts them (Send)" "2097063 2097063 855873" \
  "$(awk -F'\t' 'NR > 1 { printf "%s%s", sep, $5; sep = " " }' jl2)"
pipe big -k --block 2M wc -c
check_eq "the same chunks, read" "2097063 2097063 855873" "$(flat)"

done_testing
