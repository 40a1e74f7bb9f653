/* probe_topo.c -- the machine as hwloc sees it, for `parc probe`.
 *
 * probe is not on anyone's start-up path, so it loads the full hwloc
 * topology (libparc's parc_physical_cores reads sysfs instead). Counts are
 * of what this process may use: hwloc already leaves out PUs a cgroup
 * cpuset forbids; `bound` further narrows to the affinity mask (taskset),
 * and the rows pin themselves only inside it.
 *
 * Caches are reported per kind and size ("L2, 1 MiB, 2 of them"), with the
 * PUs each instance serves, so a hybrid CPU's two L2 sizes show as two
 * lines and a shared L3 shows whom it is shared by.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probe.h"

#define MAX_LISTED 8 /* instances listed by name before "..." */

static unsigned count_of(hwloc_topology_t t, hwloc_obj_type_t type) {
  int n = hwloc_get_nbobjs_by_type(t, type);
  return n > 0 ? (unsigned)n : 0;
}

/* The data (or unified) caches above PU os_index, by level. */
static void caches_above(probe_topo *topo) {
  hwloc_obj_t o = hwloc_get_pu_obj_by_os_index(topo->t, (unsigned)topo->pu);
  for (; o; o = o->parent) {
    if (!hwloc_obj_type_is_dcache(o->type))
      continue;
    uint64_t size = o->attr->cache.size;
    if (o->attr->cache.linesize && !topo->line)
      topo->line = o->attr->cache.linesize;
    switch (o->attr->cache.depth) {
    case 1: topo->l1d = size; break;
    case 2: topo->l2 = size; break;
    case 3: topo->l3 = size; break;
    default: break;
    }
  }
  if (!topo->line)
    topo->line = 64;
}

int probe_topo_load(probe_topo *topo) {
  memset(topo, 0, sizeof *topo);
  if (hwloc_topology_init(&topo->t) != 0)
    return -1;
  hwloc_topology_set_icache_types_filter(topo->t, HWLOC_TYPE_FILTER_KEEP_ALL);
  if (hwloc_topology_load(topo->t) != 0) {
    int e = errno;
    hwloc_topology_destroy(topo->t);
    errno = e;
    return -1;
  }
  hwloc_topology_t t = topo->t;
  topo->packages = count_of(t, HWLOC_OBJ_PACKAGE);
  topo->cores = count_of(t, HWLOC_OBJ_CORE);
  topo->pus = count_of(t, HWLOC_OBJ_PU);
  topo->numa_nodes = count_of(t, HWLOC_OBJ_NUMANODE);
  topo->memory = hwloc_get_root_obj(t)->total_memory;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0)
    topo->memory_kernel = (uint64_t)pages * page;
  topo->bound = hwloc_bitmap_alloc();
  if (topo->bound == NULL)
    return probe_topo_free(topo), errno = ENOMEM, -1;
  if (hwloc_get_cpubind(t, topo->bound, HWLOC_CPUBIND_PROCESS) != 0)
    hwloc_bitmap_copy(topo->bound, hwloc_topology_get_allowed_cpuset(t));
  hwloc_bitmap_and(topo->bound, topo->bound,
                   hwloc_topology_get_allowed_cpuset(t));
  if (hwloc_bitmap_iszero(topo->bound))
    hwloc_bitmap_copy(topo->bound, hwloc_topology_get_allowed_cpuset(t));
  topo->pu = hwloc_bitmap_first(topo->bound);
  if (topo->pu < 0)
    topo->pu = 0;
  caches_above(topo);
  return 0;
}

void probe_topo_free(probe_topo *topo) {
  hwloc_bitmap_free(topo->bound);
  if (topo->t)
    hwloc_topology_destroy(topo->t);
  memset(topo, 0, sizeof *topo);
}

/* ---------------------------------------------------------------- caches */

static const hwloc_obj_type_t CACHE_TYPES[] = {
    HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L1ICACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE,
    HWLOC_OBJ_L4CACHE};

/* One line of the cache table: instances of one type with one size. */
typedef struct cache_group {
  char name[8];     /* L1d, L1i, L2, L3 ... */
  const char *kind; /* data, instruction, unified */
  unsigned level, line, count, cores_per, pus_per;
  uint64_t size;
  hwloc_obj_t first; /* the first instance, to walk the others */
} cache_group;

static const char *cache_kind(hwloc_obj_cache_type_t c) {
  return c == HWLOC_OBJ_CACHE_DATA          ? "data"
         : c == HWLOC_OBJ_CACHE_INSTRUCTION ? "instruction"
                                            : "unified";
}

static void group_of(hwloc_topology_t t, hwloc_obj_t o, cache_group *g) {
  const struct hwloc_cache_attr_s *a = &o->attr->cache;
  memset(g, 0, sizeof *g);
  g->level = a->depth;
  g->kind = cache_kind(a->type);
  snprintf(g->name, sizeof g->name, "L%u%s", a->depth,
           a->type == HWLOC_OBJ_CACHE_DATA          ? "d"
           : a->type == HWLOC_OBJ_CACHE_INSTRUCTION ? "i"
                                                    : "");
  g->size = a->size;
  g->line = a->linesize;
  g->first = o;
  g->cores_per = (unsigned)hwloc_get_nbobjs_inside_cpuset_by_type(
      t, o->cpuset, HWLOC_OBJ_CORE);
  g->pus_per = (unsigned)hwloc_bitmap_weight(o->cpuset);
}

/* Calls fn for each (type, size) group of caches, in level order. */
static void each_cache_group(const probe_topo *topo,
                             void (*fn)(const probe_topo *, cache_group *,
                                        int first)) {
  int nth = 0;
  for (size_t k = 0; k < sizeof CACHE_TYPES / sizeof CACHE_TYPES[0]; k++) {
    hwloc_obj_t seen[16];
    unsigned nseen = 0;
    for (hwloc_obj_t o =
             hwloc_get_next_obj_by_type(topo->t, CACHE_TYPES[k], NULL);
         o; o = o->next_cousin) {
      int dup = 0;
      for (unsigned i = 0; i < nseen && !dup; i++)
        dup = seen[i]->attr->cache.size == o->attr->cache.size;
      if (dup || nseen == 16)
        continue;
      seen[nseen++] = o;
      cache_group g;
      group_of(topo->t, o, &g);
      for (hwloc_obj_t p = o; p; p = p->next_cousin)
        if (p->attr->cache.size == g.size)
          g.count++;
      fn(topo, &g, nth++ == 0);
    }
  }
}

/* The PU list of each instance in g ("0-3", "4-7"), the first MAX_LISTED;
 * as JSON strings when json is set, else joined by " | ". */
static void print_instances(const cache_group *g, int json) {
  unsigned listed = 0;
  for (hwloc_obj_t p = g->first; p; p = p->next_cousin) {
    if (p->attr->cache.size != g->size)
      continue;
    char buf[256];
    hwloc_bitmap_list_snprintf(buf, sizeof buf, p->cpuset);
    if (listed > 0)
      fputs(json ? ", " : " | ", stdout);
    if (!json && listed == MAX_LISTED) {
      fputs("...", stdout);
      break;
    }
    if (json)
      probe_json_str(buf);
    else
      fputs(buf, stdout);
    listed++;
  }
}

static void print_group(const probe_topo *topo, cache_group *g, int first) {
  char size[32], line[32];
  probe_fmt_bytes(size, sizeof size, g->size);
  snprintf(line, sizeof line, "line %u B", g->line);
  printf("    %-4s %-8s x%-4u %-11s ", g->name, size, g->count, line);
  if (g->cores_per <= 1) {
    printf(g->pus_per > 1 ? "one per core (%u PUs each)\n" : "one per core\n",
           g->pus_per);
    return;
  }
  printf("%s %u cores: PUs ", g->count > 1 ? "each shared by" : "shared by",
         g->cores_per);
  print_instances(g, 0);
  putchar('\n');
}

static void json_group(const probe_topo *topo, cache_group *g, int first) {
  printf("%s\n      {\"name\": \"%s\", \"level\": %u, \"type\": \"%s\", "
         "\"size_bytes\": %llu, \"line_bytes\": %u, \"count\": %u, "
         "\"cores_per_instance\": %u, \"pus_per_instance\": %u, "
         "\"instances\": [",
         first ? "" : ",", g->name, g->level, g->kind,
         (unsigned long long)g->size, g->line, g->count, g->cores_per,
         g->pus_per);
  print_instances(g, 1);
  fputs("]}", stdout);
}

/* ---------------------------------------------------------------- output */

static const char *cpu_model(const probe_topo *topo) {
  hwloc_obj_t pkg = hwloc_get_next_obj_by_type(topo->t, HWLOC_OBJ_PACKAGE,
                                               NULL);
  const char *m = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
  return m ? m : "unknown";
}

/* The release parc was built against (pkg-config's); the library's own
 * hwloc_get_api_version gives the API level only (2.9.0 says 2.8.0). */
static void hwloc_version(char *buf, size_t n) {
#ifdef PARC_HWLOC_VERSION
  snprintf(buf, n, "%s", PARC_HWLOC_VERSION);
#else
  unsigned v = hwloc_get_api_version();
  snprintf(buf, n, "API %u.%u", v >> 16, (v >> 8) & 0xff);
#endif
}

/* More than 5% apart (hwloc counts memory per NUMA node; on some VMs the
 * nodes show less than the kernel's MemTotal). */
static int differ(uint64_t a, uint64_t b) {
  uint64_t d = a > b ? a - b : b - a;
  return b > 0 && d > b / 20;
}

void probe_topo_print(const probe_topo *topo) {
  char ver[32], mem[32], cpus[256];
  hwloc_version(ver, sizeof ver);
  probe_fmt_bytes(mem, sizeof mem, topo->memory);
  hwloc_bitmap_list_snprintf(cpus, sizeof cpus, topo->bound);
  printf("Machine (hwloc %s)\n", ver);
  printf("  CPU               %s\n", cpu_model(topo));
  printf("  packages          %u\n", topo->packages);
  printf("  cores             %u\n", topo->cores);
  printf("  hardware threads  %u", topo->pus);
  if (topo->cores)
    printf(" (%.3g per core)", (double)topo->pus / topo->cores);
  printf("; this process may use PUs %s\n", cpus);
  printf("  memory            %s", mem);
  if (differ(topo->memory, topo->memory_kernel)) {
    probe_fmt_bytes(mem, sizeof mem, topo->memory_kernel);
    printf(" in NUMA nodes; the kernel counts %s", mem);
  }
  putchar('\n');
  printf("  NUMA nodes        %u", topo->numa_nodes);
  const char *sep = ": ";
  for (hwloc_obj_t o =
           hwloc_get_next_obj_by_type(topo->t, HWLOC_OBJ_NUMANODE, NULL);
       o; o = o->next_cousin, sep = ", ") {
    probe_fmt_bytes(mem, sizeof mem, o->attr->numanode.local_memory);
    hwloc_bitmap_list_snprintf(cpus, sizeof cpus, o->cpuset);
    printf("%snode %u (%s, PUs %s)", sep, o->os_index, mem, cpus);
  }
  printf("\n  caches\n");
  each_cache_group(topo, print_group);
}

void probe_topo_json(const probe_topo *topo, const char *indent) {
  char ver[32], cpus[256];
  hwloc_version(ver, sizeof ver);
  hwloc_bitmap_list_snprintf(cpus, sizeof cpus, topo->bound);
  printf("{\n%s  \"hwloc_version\": \"%s\",\n%s  \"cpu_model\": ", indent, ver,
         indent);
  probe_json_str(cpu_model(topo));
  printf(",\n%s  \"packages\": %u,\n%s  \"cores\": %u,\n%s  \"pus\": %u,\n"
         "%s  \"bound_pus\": \"%s\",\n%s  \"memory_bytes\": %llu,\n"
         "%s  \"memory_kernel_bytes\": %llu,\n%s  \"numa_nodes\": [",
         indent, topo->packages, indent, topo->cores, indent, topo->pus, indent,
         cpus, indent, (unsigned long long)topo->memory, indent,
         (unsigned long long)topo->memory_kernel, indent);
  const char *sep = "";
  for (hwloc_obj_t o =
           hwloc_get_next_obj_by_type(topo->t, HWLOC_OBJ_NUMANODE, NULL);
       o; o = o->next_cousin, sep = ", ") {
    hwloc_bitmap_list_snprintf(cpus, sizeof cpus, o->cpuset);
    printf("%s{\"os_index\": %u, \"memory_bytes\": %llu, \"pus\": \"%s\"}", sep,
           o->os_index, (unsigned long long)o->attr->numanode.local_memory,
           cpus);
  }
  printf("],\n%s  \"caches\": [", indent);
  each_cache_group(topo, json_group);
  printf("\n%s  ]\n%s}", indent, indent);
}

/* ---------------------------------------------------------------- pinning */

int probe_pin(const probe_topo *topo, int os_index) {
  hwloc_bitmap_t set = hwloc_bitmap_dup(topo->bound);
  if (set == NULL)
    return -1;
  if (os_index >= 0)
    hwloc_bitmap_only(set, (unsigned)os_index);
  int rc = hwloc_set_cpubind(topo->t, set, HWLOC_CPUBIND_THREAD);
  hwloc_bitmap_free(set);
  return rc;
}

int probe_pick_two_cores(const probe_topo *topo, int *a, int *b,
                         const char **why) {
  int found[2], n = 0;
  for (hwloc_obj_t c =
           hwloc_get_next_obj_by_type(topo->t, HWLOC_OBJ_CORE, NULL);
       c && n < 2; c = c->next_cousin) {
    hwloc_bitmap_t in = hwloc_bitmap_alloc();
    if (in == NULL)
      break;
    hwloc_bitmap_and(in, c->cpuset, topo->bound);
    int pu = hwloc_bitmap_first(in);
    hwloc_bitmap_free(in);
    if (pu >= 0)
      found[n++] = pu;
  }
  if (n < 2) {
    *why = topo->cores < 2 ? "this machine has one core"
                           : "this process may run on one core only";
    return -1;
  }
  *a = found[0];
  *b = found[1];
  return 0;
}

const char *probe_shared_level(const probe_topo *topo, int a, int b) {
  static char buf[32];
  hwloc_obj_t pa = hwloc_get_pu_obj_by_os_index(topo->t, (unsigned)a);
  hwloc_obj_t pb = hwloc_get_pu_obj_by_os_index(topo->t, (unsigned)b);
  if (pa == NULL || pb == NULL)
    return "unknown";
  hwloc_obj_t o = hwloc_get_common_ancestor_obj(topo->t, pa, pb);
  while (o && o->parent && !hwloc_obj_type_is_dcache(o->type) &&
         o->type != HWLOC_OBJ_PACKAGE && o->type != HWLOC_OBJ_MACHINE)
    o = o->parent;
  if (o == NULL)
    return "unknown";
  if (hwloc_obj_type_is_dcache(o->type))
    snprintf(buf, sizeof buf, "L%u", o->attr->cache.depth);
  else
    snprintf(buf, sizeof buf, "%s", hwloc_obj_type_string(o->type));
  return buf;
}
