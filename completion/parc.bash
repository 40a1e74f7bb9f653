# bash completion for parc(1): its commands, their options, the values some
# options take, and for `parc run` the command and the ::: and :::: sources.
# Installed as share/bash-completion/completions/parc, which bash-completion
# loads the first time `parc` is completed; without it, `source` this file.
# Needs nothing of bash-completion's. test/install/completion.sh checks it.

_parc_commands="run probe plan bench"

# parc run's long options (cli/run/run_args.c), and those that take a value
# (--halving's is optional: sync or async, as the next word).
_parc_run_long="--jobs --max-procs --keep-order --tag --tagstring
  --line-buffer --lb --ungroup --verbose --quote --shell --grid --arg-file
  --null --delimiter --colsep --header --csv --no-run-if-empty --eof
  --max-args --max-replace-args --max-lines --max-chars --xargs --pipe --spreadstdin --cat --fifo
  --block --block-size --recend --recstart --rrs --remove-rec-sep --results
  --joblog --jl --resume --resume-failed
  --retry-failed --resume-by --retries --timeout --grace --halt
  --halt-on-error --delay --memfree --memory --retry-memory --nice --shuf --plus
  --dry-run
  --dryrun --bar --eta --inner-threads --best --minimize --average-over
  --sample --seed --halving --budget --factor --quiet --wd --workdir
  --group --env --replace --extensionreplace --er --basenamereplace --bnr
  --dirnamereplace --dnr --basenameextensionreplace --bner --seqreplace
  --slotreplace --help --version"
_parc_run_valued="--jobs --max-procs --tagstring --grid --arg-file
  --delimiter --colsep --header --eof --max-args --max-replace-args
  --max-chars --block --block-size --recend --recstart --results
  --joblog --jl --resume-by
  --retries --timeout --grace --halt --halt-on-error --delay --memfree
  --memory --retry-memory --nice --inner-threads --best --average-over --sample
  --seed --budget --factor --wd --workdir --env --extensionreplace --er
  --basenamereplace --bnr --dirnamereplace --dnr --basenameextensionreplace
  --bner --seqreplace --slotreplace"
# Short options; those followed by ':' take a value.
_parc_run_short="j:P:kuvtqa:0d:C:rE:n:N:L:XmI:h"

_parc_probe_long="--quick --json --dir --help"
_parc_bench_long="--quick --out --json --sizes --reps --fit-tol --no-pin --help"
_parc_plan_long="--deadline --task-time --from --tasks --grid --price
  --serial-fraction --max-cores --plot --halving --budget --factor
  --average-over --budget-exponent --help"
_parc_sub_valued="--dir --out --sizes --reps --fit-tol --deadline
  --task-time --from --tasks --grid --price --serial-fraction --max-cores
  --plot --budget --factor --average-over --budget-exponent"

# COMPREPLY from the words of $1 that start with $2.
_parc_words() {
  local IFS=$' \t\n'
  COMPREPLY=($(compgen -W "$1" -- "$2"))
}

# COMPREPLY from the files (or with $2 = -d, the directories) that start
# with $1; a directory gets its '/' from -o filenames.
_parc_files() {
  local IFS=$'\n'
  COMPREPLY=($(compgen "${2:--f}" -- "$1"))
  compopt -o filenames 2>/dev/null
  return 0
}

# The value of option $1, $2 typed so far.
_parc_value() {
  case $1 in
  -a | --arg-file | --joblog | --jl | --from | --plot) _parc_files "$2" -f ;;
  --results | --wd | --workdir | --dir | --out) _parc_files "$2" -d ;;
  --halving) _parc_words "sync async" "$2" ;;
  --resume-by) _parc_words "command seq" "$2" ;;
  --halt | --halt-on-error)
    _parc_words "never now,fail=1 soon,fail=1 now,success=1 soon,success=1
      now,done=1 soon,done=1" "$2" ;;
  *) COMPREPLY=() ;; # a number, a size, a spec: nothing to offer
  esac
}

# Is $1 one of the words of $2?
_parc_in() {
  local w
  for w in $2; do [ "$w" = "$1" ] && return 0; done
  return 1
}

# The long option of $2's list that word $1 names: itself, or the one
# option it is a unique prefix of (getopt_long's rule); empty if none.
_parc_long_name() {
  local o found=
  for o in $2; do
    [ "$o" = "$1" ] && { echo "$o"; return; }
    case $o in "$1"*) [ -n "$found" ] && return; found=$o ;; esac
  done
  echo "$found"
}

# Does the word at $1 (an option) take the next word as its value? Sets
# _parc_opt to the option whose value that would be.
_parc_takes_value() {
  local w=$1 long c j
  _parc_opt=
  case $w in
  --*=*) return 1 ;;
  --*)
    long=$(_parc_long_name "$w" "$_parc_run_long")
    [ -n "$long" ] || return 1
    _parc_opt=$long
    _parc_in "$long" "$_parc_run_valued --halving" ;;
  -?*)
    for ((j = 1; j < ${#w}; j++)); do
      c=${w:j:1}
      if [[ $_parc_run_short == *"$c:"* ]]; then
        _parc_opt=-$c
        [ $((j + 1)) -eq ${#w} ]  # nothing attached: the next word
        return
      fi
    done
    return 1 ;;
  *) return 1 ;;
  esac
}

# parc run: options, then the command, then the sources.
_parc_run() {
  local cur=$1 i=2 w phase=options want=
  while [ $i -lt $COMP_CWORD ]; do
    w=${COMP_WORDS[i]}
    case $w in
    ::: | :::+ | :::: | ::::+) phase=sources w=source ;;
    esac
    case $phase:$w in
    sources:*) ;;
    options:--) phase=command-next ;;
    options:-?*)
      if _parc_takes_value "$w"; then
        # the value: the next word, or "=" and the one after it
        if [ "${COMP_WORDS[i + 1]}" = "=" ]; then
          [ $((i + 2)) -eq $COMP_CWORD ] && want=$_parc_opt
          i=$((i + 2))
        elif [ $((i + 1)) -eq $COMP_CWORD ]; then
          want=$_parc_opt
        elif [ "$_parc_opt" != --halving ] ||
          [[ ${COMP_WORDS[i + 1]} == sync || ${COMP_WORDS[i + 1]} == async ]]; then
          i=$((i + 1))
        fi
      fi ;;
    options:* | command-next:*) phase=command ;;
    esac
    i=$((i + 1))
  done
  if [ -n "$want" ]; then
    [ "$cur" = "=" ] && cur=
    _parc_value "$want" "$cur"
    return
  fi
  if [[ $cur == :* ]]; then
    _parc_words "::: :::+ :::: ::::+" "$cur"
    return
  fi
  case $phase:$cur in
  options:-*) _parc_words "$_parc_run_long" "$cur" ;;
  options:* | command-next:*) COMPREPLY=($(compgen -c -- "$cur")) ;;
  *) _parc_files "$cur" ;;
  esac
}

# parc probe, bench, plan: options only, some with a value.
_parc_sub() {
  local cur=$2 prev=${COMP_WORDS[COMP_CWORD - 1]}
  if [ "$cur" = "=" ]; then
    cur=
  elif [ "$prev" = "=" ] && [ "$COMP_CWORD" -ge 3 ]; then
    prev=${COMP_WORDS[COMP_CWORD - 2]}
  fi
  if [ "$COMP_CWORD" -ge 3 ] && _parc_in "$prev" "$_parc_sub_valued"; then
    _parc_value "$prev" "$cur"
  else
    _parc_words "$1" "$cur"
  fi
}

_parc() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  COMPREPLY=()
  if [ "$COMP_CWORD" -eq 1 ]; then
    _parc_words "$_parc_commands --help --version" "$cur"
    return
  fi
  case ${COMP_WORDS[1]} in
  run) _parc_run "$cur" ;;
  probe) _parc_sub "$_parc_probe_long" "$cur" ;;
  bench) _parc_sub "$_parc_bench_long" "$cur" ;;
  plan) _parc_sub "$_parc_plan_long" "$cur" ;;
  esac
}

complete -F _parc parc
