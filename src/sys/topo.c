/* topo.c -- the machine's cores, from hwloc. */
#include <hwloc.h>
#include <unistd.h>

#include "parc.h"
#include "sys/sys.h"

static unsigned count_type(hwloc_obj_type_t type) {
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0)
    return 0;
  int n = 0;
  if (hwloc_topology_load(topo) == 0)
    n = hwloc_get_nbobjs_by_type(topo, type);
  hwloc_topology_destroy(topo);
  return n > 0 ? (unsigned)n : 0;
}

unsigned parc__physical_cores(void) {
  unsigned n = count_type(HWLOC_OBJ_CORE);
  return n ? n : parc_logical_cpus();
}

unsigned parc_physical_cores(void) { return parc__physical_cores(); }

unsigned parc_logical_cpus(void) {
  unsigned n = count_type(HWLOC_OBJ_PU);
  if (n == 0) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    n = c > 0 ? (unsigned)c : 1;
  }
  return n;
}
