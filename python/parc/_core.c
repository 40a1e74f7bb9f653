/* _core.c -- the parc._core extension module: libparc for Python.
 *
 * One module, one copy of libparc in the process, built from several
 * files, each owning one part of the module and adding it here:
 *   _pool.c  pools, bytes tasks, futures, and the worker side that runs
 *            Python callables in forked processes or threads
 *   _chan.c  queues, pipes, locks and processes between processes
 *   _rng.c   Philox streams (parc_rng) and numpy's BitGenerator on them
 * The Python package (the .py files of parc/) builds the familiar APIs
 * on these.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_core.h"

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    "parc._core",
    "libparc, the engine of the parc package (use parc, not this module).",
    -1,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL};

PyMODINIT_FUNC PyInit__core(void) {
  PyObject *m = PyModule_Create(&core_module);
  if (!m)
    return NULL;
  if (parc_py_errors_init(m) < 0 || parc_py_pool_init(m) < 0 ||
      parc_py_chan_init(m) < 0 || parc_py_rng_init(m) < 0) {
    Py_DECREF(m);
    return NULL;
  }
  return m;
}
