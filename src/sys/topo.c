/* topo.c -- how many cores this process may use.
 *
 * Counting cores is on the start-up path of every default-sized pool and
 * of every `parc run`, so it must cost microseconds. Loading an hwloc
 * topology costs 5-15 ms (it dlopens its plugins and, on x86, binds itself
 * to every CPU to run cpuid). So the count is read from the sysfs files
 * hwloc's Linux backend reads too: a core is the set of hardware threads
 * in cpuN/topology/core_cpus_list (thread_siblings_list on kernels before
 * 5.7), named by its lowest CPU. hwloc remains the fallback where sysfs
 * has no topology, and the source of the full picture (`parc probe`).
 *
 * Only the CPUs in this process's affinity mask count (taskset, cgroup
 * cpusets). The physical count is taken once per process.
 */
#include <hwloc.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "parc.h"
#include "sys/sys.h"

static unsigned hwloc_cores(void) {
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0)
    return 0;
  int n = 0;
  if (hwloc_topology_load(topo) == 0)
    n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  hwloc_topology_destroy(topo);
  return n > 0 ? (unsigned)n : 0;
}

/* The lowest CPU of cpu's core, or -1 if sysfs does not say. */
static int core_of(int cpu) {
  static const char *const leaf[] = {"core_cpus_list", "thread_siblings_list"};
  for (size_t i = 0; i < sizeof leaf / sizeof leaf[0]; i++) {
    char path[96];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/%s",
             cpu, leaf[i]);
    FILE *f = fopen(path, "re");
    if (f == NULL)
      continue;
    int first = -1;
    if (fscanf(f, "%d", &first) != 1)
      first = -1;
    fclose(f);
    if (first >= 0)
      return first;
  }
  return -1;
}

static unsigned sysfs_cores(const cpu_set_t *set) {
  cpu_set_t seen;
  CPU_ZERO(&seen);
  unsigned n = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, set))
      continue;
    int core = core_of(cpu);
    if (core < 0 || core >= CPU_SETSIZE)
      return 0;
    if (!CPU_ISSET(core, &seen)) {
      CPU_SET(core, &seen);
      n++;
    }
  }
  return n;
}

unsigned parc__physical_cores(void) {
  static _Atomic unsigned cached;
  unsigned n = atomic_load_explicit(&cached, memory_order_relaxed);
  if (n)
    return n;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    n = sysfs_cores(&set);
  if (n == 0)
    n = hwloc_cores();
  if (n == 0)
    n = parc_logical_cpus();
  atomic_store_explicit(&cached, n, memory_order_relaxed);
  return n;
}

unsigned parc_physical_cores(void) { return parc__physical_cores(); }

unsigned parc_logical_cpus(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return (unsigned)CPU_COUNT(&set);
  long c = sysconf(_SC_NPROCESSORS_ONLN);
  return c > 0 ? (unsigned)c : 1;
}
