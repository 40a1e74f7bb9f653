#!/usr/bin/env bash
# The MPI backend and `parc run` across a real network: three "hosts", each
# a network namespace (with a UTS namespace of its own, for its hostname)
# whose eth0 is one end of a veth pair; the other ends are ports of a bridge
# in a fourth, "switch" namespace. mpirun starts in host 1; Open MPI's rsh
# launcher reaches hosts 2 and 3 through an agent that stands in for ssh
# (`ip netns exec`). Over this, test_mpi_pool with one rank per host, then a
# `parc run` sweep whose jobs report the namespace they ran in; the veths'
# byte counters show the data went over them. Exits 77 (skipped, with the
# reason) where namespaces, veths or bridges cannot be made; everything
# after that failing is a failure. Run by CTest with $PARC, $MPIEXEC,
# $MPIEXEC_FLAGS and $MPI_POOL_TEST (test/mpi/CMakeLists.txt).
. "$(dirname "$0")/../cli/lib.sh"

NET=10.77.0     # inside the switch namespace only: parallel runs share it
NS=parc$$       # namespace names and hostnames, unique to this run
LIMIT=60        # longest one mpirun may take before it counts as hung
MADE=()         # namespaces made, for the cleanup
read -r -a FLAGS <<<"${MPIEXEC_FLAGS:-}"

drop_ns() { # NAME: ends what runs in the namespace, then removes it
  local p
  for p in $(ip netns pids "$1" 2>/dev/null); do
    kill -KILL "$p" 2>/dev/null
  done
  ip netns del "$1" 2>/dev/null
}
netns_cleanup() {
  local ns
  for ns in "${MADE[@]+"${MADE[@]}"}"; do
    drop_ns "$ns"
  done
  cleanup
}
trap netns_cleanup EXIT

skip() {
  echo "SKIP [$TEST_NAME]: $*"
  exit 77
}

# try WHAT COMMAND...: runs a setup step; the kernel refusing it is a skip.
try() {
  local what=$1 err
  shift
  err=$("$@" 2>&1) || skip "$what not available here: $* said: $err"
}

# ------------------------------------------------------------ the network

command -v ip >/dev/null || skip "network namespaces not available here: no 'ip' (iproute2)"
command -v unshare >/dev/null || skip "UTS namespaces not available here: no 'unshare'"
# What a run killed before its cleanup (CTest's timeout) left: its PID is gone.
for ns in $(ip netns list 2>/dev/null | grep -oE '^parc[0-9]+-(sw|h[123])\b'); do
  pid=${ns#parc}
  kill -0 "${pid%%-*}" 2>/dev/null || drop_ns "$ns"
done
try "network namespaces" ip netns add "$NS-sw"
MADE+=("$NS-sw")
try "UTS namespaces" ip netns exec "$NS-sw" unshare --uts true
try "bridges" ip -n "$NS-sw" link add br0 type bridge
try "bridges" ip -n "$NS-sw" link set br0 up
for h in 1 2 3; do
  try "network namespaces" ip netns add "$NS-h$h"
  MADE+=("$NS-h$h")
  try "veth pairs" ip -n "$NS-sw" link add "p$h" type veth peer name eth0 \
    netns "$NS-h$h"
  try "veth pairs" ip -n "$NS-sw" link set "p$h" master br0 up
  try "veth pairs" ip -n "$NS-h$h" addr add "$NET.$h/24" dev eth0
  try "veth pairs" ip -n "$NS-h$h" link set eth0 up
  try "veth pairs" ip -n "$NS-h$h" link set lo up
done

# The hostfile names the hosts by address: nothing to resolve. Open MPI
# sees that host 1's address is its own and starts rank 0 there directly.
printf '%s slots=1\n' "$NET.1" "$NET.2" "$NET.3" >"$T/hosts"

# The agent is called as ssh would be: agent [OPTION...] HOST COMMAND...
cat >"$T/agent" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case \$1 in -*) shift ;; *) break ;; esac; done
case \$1 in
  $NET.1) n=1 ;; $NET.2) n=2 ;; $NET.3) n=3 ;;
  *) echo "netns agent: unknown host '\$1'" >&2; exit 255 ;;
esac
echo "\$1" >>"$T/agent.log"
shift
exec ip netns exec "$NS-h\$n" unshare --uts \\
  sh -c 'hostname "\$1" && shift && exec sh -c "\$*"' sh "$NS-h\$n" "\$@"
EOF
chmod +x "$T/agent"

MPI_OPTS=(-n 3 --hostfile "$T/hosts"
  --mca plm_rsh_agent "$T/agent" --mca plm_rsh_no_tree_spawn 1
  --mca btl tcp,self
  --mca btl_tcp_if_include "$NET.0/24" --mca oob_tcp_if_include "$NET.0/24")

# net_mpirun ARGS...: mpirun ARGS... across the hosts, started in host 1.
net_mpirun() {
  OUT_FILE=$T/.parc.out
  ERR_FILE=$T/.parc.err
  : >"$T/agent.log"
  timeout -k 5 "$LIMIT" ip netns exec "$NS-h1" unshare --uts \
    sh -c 'hostname "$1" && shift && exec "$@"' sh "$NS-h1" \
    "$MPIEXEC" "${MPI_OPTS[@]}" "${FLAGS[@]+"${FLAGS[@]}"}" "$@" \
    </dev/null >"$OUT_FILE" 2>"$ERR_FILE"
  RC=$?
  OUT=$(cat "$OUT_FILE")
  ERR=$(cat "$ERR_FILE")
  [ "$RC" -ne 124 ] && [ "$RC" -ne 137 ] || fail "mpirun $* hung"
}

bytes() { # HOST rx|tx: bytes through that host's eth0 so far
  ip netns exec "$NS-h$1" cat "/sys/class/net/eth0/statistics/$2_bytes"
}
counters() { # the six counters, "rx1 tx1 rx2 tx2 rx3 tx3"
  echo "$(bytes 1 rx) $(bytes 1 tx) $(bytes 2 rx) $(bytes 2 tx)" \
    "$(bytes 3 rx) $(bytes 3 tx)"
}
at_least() { [ "$2" -ge "$1" ]; } # MIN VALUE

no_process_left() {
  local h
  for h in 1 2 3; do
    [ -z "$(ip netns pids "$NS-h$h")" ] || return 1
  done
}

netns_inode() { stat -L -c %i "/run/netns/$1"; }

cd "$T" || exit 1

# ------------------------------------------------------------ test_mpi_pool

read -r rx1 tx1 rx2 tx2 rx3 tx3 <<<"$(counters)"
net_mpirun "$MPI_POOL_TEST"
check_rc "test_mpi_pool, one rank per namespace" 0
check_contains "test_mpi_pool: all checks passed" "ok: 3 ranks, 0 failures" "$OUT"
check_eq "the launcher went through the agent for hosts 2 and 3" \
  "$(lines "$NET.2" "$NET.3")" "$(sort -u agent.log)"
read -r Rx1 Tx1 Rx2 Tx2 Rx3 Tx3 <<<"$(counters)"
# map-reduce alone ships 100000 doubles to the serving ranks
check_true "the 800 kB of map-reduce inputs left host 1 by its veth" \
  at_least 800000 $((Tx1 - tx1))
check_true "and reached hosts 2 and 3 by theirs" \
  at_least 800000 $((Rx2 - rx2 + Rx3 - rx3))
check_true "host 2's veth carried its rank's share both ways" \
  at_least 50000 $(((Rx2 - rx2) < (Tx2 - tx2) ? Rx2 - rx2 : Tx2 - tx2))
check_true "host 3's veth carried its rank's share both ways" \
  at_least 50000 $(((Rx3 - rx3) < (Tx3 - tx3) ? Rx3 - rx3 : Tx3 - tx3))
check_true "no orted or rank left in the namespaces" wait_for 5 no_process_left

# ------------------------------------------------------------ parc run

# Each job says which network namespace it ran in and prints 4000 bytes,
# which its rank ships back to rank 0 on host 1.
job='echo {} >> marks; echo v={}; echo netns=$(stat -L -c %i /proc/self/ns/net)
head -c 4000 /dev/zero | tr "\0" x; echo; [ {} != 7 ]'
read -r rx1 tx1 rx2 tx2 rx3 tx3 <<<"$(counters)"
net_mpirun "$PARC" run -j 2 --results R --shell "$job" ::: $(seq 1 12)
check_rc "12 jobs across the hosts, job 7 fails: exit status 1" 1
check_eq "each job ran exactly once" "$(seq 1 12)" "$(sort -n marks)"
check_eq "results.csv: header plus one row per job" 13 \
  "$(count_lines R/results.csv)"
check_eq "results.csv: the failed job's exit" 1 \
  "$(csv_field R/results.csv job 7 exit)"
check_eq "results.csv host column: rank 1 on host 2, rank 2 on host 3" \
  "$(lines "$NS-h2:1" "$NS-h3:2")" \
  "$(for i in $(seq 1 12); do csv_field R/results.csv job "$i" host; done |
     sort -u)"
wrong=
for i in $(seq 1 12); do
  host=$(csv_field R/results.csv job "$i" host)
  want=$(netns_inode "${host%:*}")
  got=$(csv_field R/results.csv job "$i" netns)
  [ "$got" = "$want" ] || wrong="$wrong job $i: netns $got on $host ($want);"
done
check_eq "each job ran in the network namespace of its host" "" "$wrong"
check_eq "the jobs ran in two namespaces, neither host 1's nor this one's" \
  "$(lines "$(netns_inode "$NS-h2")" "$(netns_inode "$NS-h3")" | sort)" \
  "$(for i in $(seq 1 12); do csv_field R/results.csv job "$i" netns; done |
     sort -u)"
check_eq "a job's 4000 bytes of output saved by rank 0" 1 \
  "$(awk 'length($0) == 4000 && /^x+$/' R/arg1=5/stdout | wc -l)"
read -r Rx1 Tx1 Rx2 Tx2 Rx3 Tx3 <<<"$(counters)"
check_true "the jobs' 48 kB of output left hosts 2 and 3 by their veths" \
  at_least 48000 $((Tx2 - tx2 + Tx3 - tx3))
check_true "and reached host 1 by its veth" at_least 48000 $((Rx1 - rx1))
check_true "no orted or rank left in the namespaces" wait_for 5 no_process_left

done_testing
