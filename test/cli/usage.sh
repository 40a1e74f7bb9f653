#!/usr/bin/env bash
# Bad usage: unknown option, malformed --grid, {7} with two sources,
# unreadable :::: file, bad option values. Each prints one line naming the
# problem (and at most a usage hint), nothing on stdout, exits 255 (GNU
# parallel's status for it, which no count of failed jobs can be) and runs
# no job.
. "$(dirname "$0")/lib.sh"

cd "$T" || exit 1

# usage_error DESCRIPTION REGEX ARGS...: `parc run ARGS` is a usage error
# whose first stderr line matches REGEX (names the problem); a second line,
# if any, is only a usage hint; and no job left a marker in $T/ran.
usage_error() {
  local desc=$1 re=$2
  shift 2
  rm -rf ran && mkdir ran
  run_parc "$@"
  check_rc "$desc" 255
  check_eq "$desc: nothing on stdout" "" "$OUT"
  check_match "$desc: stderr names the problem" "$re" "$(head -n 1 "$ERR_FILE")"
  local n
  n=$(count_lines "$ERR_FILE")
  if [ "$n" -eq 2 ]; then
    check_match "$desc: a second stderr line is only the usage hint" \
      '(-h|--help|[Uu]sage)' "$(sed -n 2p "$ERR_FILE")"
  else
    check_eq "$desc: one line on stderr" 1 "$n"
  fi
  check_eq "$desc: no job ran" "" "$(ls ran)"
}

usage_error "unknown option" '--frobnicate' \
  --frobnicate touch 'ran/{}' ::: a b
usage_error "unknown short option" '-Q' \
  -Q touch 'ran/{}' ::: a b
usage_error "--grid without NAME=" 'nonameaxis' \
  --grid nonameaxis touch 'ran/{}' ::: a
usage_error "--grid with an empty name" '=1,2|name' \
  --grid =1,2 touch 'ran/{}' ::: a
usage_error "--grid range with step 0" '1:5:0|step' \
  --grid 'x=1:5:0' touch 'ran/{x}'
usage_error "--grid with a bad logspace count" '1\.\.10x0|1\.\.10x|count' \
  --grid 'x=1..10x0' touch 'ran/{x}'
usage_error "{7} with two sources" '\{7\}' \
  touch 'ran/{7}' ::: a ::: b
usage_error "{3.} with two sources" '\{3\.\}|\{3' \
  touch 'ran/{3.}' ::: a ::: b
usage_error "{2} with one grid axis and no other source" '\{2\}' \
  --grid x=1,2 touch 'ran/{2}'
usage_error "unreadable :::: file" 'no-such-file' \
  touch 'ran/{}' :::: "$T/no-such-file"
usage_error "unreadable ::::+ file" 'no-such-file2' \
  touch 'ran/{}' ::: a ::::+ "$T/no-such-file2"
usage_error "--jobs without a number" '-j|--jobs|abc' \
  -j abc touch 'ran/{}' ::: a
usage_error "--colsep with a repetition after a repetition" 'colsep' \
  --colsep 'e++++++++++++++++++++++++++++++++++++++++++' touch "$T/ran/{}" ::: a
usage_error "--wd that is no directory" 'wd|no-such-dir' \
  --wd "$T/no-such-dir" touch "$T/ran/{}" ::: a
usage_error "option missing its value at the end" '--timeout' \
  --timeout
usage_error "a flag given a value" "--tag" \
  --tag=yes touch 'ran/{}' ::: a
usage_error "an ambiguous prefix" "--re" \
  --re touch 'ran/{}' ::: a
usage_error "an unknown option inside a bundle" "-Q|-kQ" \
  -kQ touch 'ran/{}' ::: a
usage_error "--halt with an unknown condition" 'halt|now,maybe' \
  --halt now,maybe=1 touch 'ran/{}' ::: a
usage_error "-j with a bad relative count" '-j|\+x' \
  -j +x touch 'ran/{}' ::: a
usage_error "--block without --pipe" 'block' \
  --block 1M touch 'ran/{}' ::: a
usage_error "--resume without --joblog" 'joblog' \
  --resume touch 'ran/{}' ::: a

# GNU parallel's spellings are accepted: bundles, --opt=value, aliases,
# relative -j.
rm -rf ran && mkdir ran
run_parc -kj2 --jobs=2 --dryrun --jl=jl.txt -j +0 touch 'ran/{}' ::: a b
check_rc "GNU spellings: accepted" 0
check_eq "GNU spellings: --dryrun printed the commands in order" \
  "touch ran/a
touch ran/b" "$OUT"

# GNU's own names for the replacement strings, its -L, --wd, -r, -E and
# the -k --lb pair (-k wins).
run_parc -k -I XX --er EE --seqreplace NN --dnr DD echo XX EE NN DD ::: d/a.b
check_eq "-I, --er, --seqreplace, --dnr" "d/a.b d/a 1 d" "$OUT"
run_parc -k --replace=XX echo XX ::: a
check_eq "--replace=STR" "a" "$OUT"
seq 5 >"$T/five"
PARC_STDIN=$T/five run_parc_cmd run -k -L 2 echo
check_eq "-L 2: two lines per job" "$(printf '1 2\n3 4\n5')" "$OUT"
# GNU's other ways of writing it: a suffix, a fraction, -l and
# --max-lines with their N optional (then, or with 0, one line), the next
# word taken when it is a number
for case in "-L 1k|1 2 3 4 5" "-L 1Ki|1 2 3 4 5" "-L 1.5|1 2,3 4,5" \
  "-l|1,2,3,4,5" "-l2|1 2,3 4,5" "-l 2|1 2,3 4,5" "-l 0|1,2,3,4,5" \
  "--max-lines|1,2,3,4,5" "--max-lines 2|1 2,3 4,5" \
  "--max-lines=3|1 2 3,4 5"; do
  read -r -a opts <<<"${case%%|*}"
  PARC_STDIN=$T/five run_parc_cmd run -k "${opts[@]}" echo
  check_eq "${case%%|*}" "${case#*|}" "$(printf '%s' "$OUT" | tr '\n' ,)"
done
for opts in "--max-lines -0" "--max-lines=-0" "-l-0"; do
  PARC_STDIN=$T/five run_parc_cmd run -k $opts echo x
  check_eq "$opts: -l, then -0: one record, all five lines (GNU's)" \
    "x 1,2,3,4,5," "$(printf '%s\n' "$OUT" | tr '\n' ,)"
done
# -lWORD as GNU's Getopt::Long reads it: the number, then more letters
for case in "-l2k|1 2,3 4,5" "-lk|1,2,3,4,5" "-kl2|1 2,3 4,5" "-l1kj1|1,2,3,4,5"; do
  PARC_STDIN=$T/five run_parc_cmd run "${case%%|*}" echo
  check_eq "${case%%|*}" "${case#*|}" "$(printf '%s' "$OUT" | tr '\n' ,)"
done
seq 21 >"$T/t21"
PARC_STDIN=$T/t21 run_parc_cmd run -k --pipe -L 2.5 wc -l
check_eq "--pipe -L 2.5: records of 2 lines (GNU counts whole lines)" \
  "20,1," "$(printf '%s\n' "$OUT" | tr '\n' ,)"
run_parc -k --wd / pwd ::: a
check_eq "--wd: the jobs run there" "/" "$OUT"
run_parc -k -E stop echo ::: a stop b
check_eq "-E: a source ends at the end string" "a" "$OUT"
printf 'a\n  \nb\n' >"$T/blank"
PARC_STDIN=$T/blank run_parc_cmd run -k -r echo
check_eq "-r: blank records are no values" "$(printf 'a\nb')" "$OUT"
run_parc -k -N2 '{2}' ::: a
check_rc "-N2 with one value: every word left out, an empty line (GNU)" 0
check_eq "-N2 with one value: nothing printed" "" "$OUT"
run_parc -k --lb echo ::: a b
check_rc "-k --lb: accepted, as GNU parallel" 0
check_eq "-k --lb: in order" "$(printf 'a\nb')" "$OUT"

# Touch-a-marker sanity: the same commands without the mistake do run.
rm -rf ran && mkdir ran
run_parc touch 'ran/{}' ::: a b
check_rc "control: the marker command itself works" 0
check_eq "control: markers written" "a b" "$(ls ran | tr '\n' ' ' | sed 's/ $//')"

# --help is not an error.
run_parc --help
check_rc "--help" 0
check_contains "--help prints usage mentioning parc run" "parc run" "$OUT$ERR"

run_parc -h
check_rc "-h" 0
check_contains "-h prints usage mentioning parc run" "parc run" "$OUT$ERR"

done_testing
