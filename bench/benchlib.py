"""bench/benchlib.py -- what the Python bench scripts share
(bench/gridsearch_vs_sklearn, bench/mpi_farm_vs_mpi4py, bench/python/): the machine's load,
measured around each timed run. Standard library only."""
import os
import resource


def busy_seconds():
    """CPU time the whole machine spent busy (steal included), /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    guest = sum(v[8:10]) if len(v) > 8 else 0  # already in user and nice
    return (sum(v) - idle - guest) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tree_cpu():
    """CPU seconds used so far by this process and every live process
    below it, with the children each has reaped (/proc): the difference
    over a fit is the CPU the fit cost, workers included, whatever else
    runs on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    kids, cpu = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(name))
        cpu[int(name)] = sum(int(x) for x in fields[11:15]) / tick
    total, todo = 0.0, [os.getpid()]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(kids.get(pid, []))
    return total


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"
