/* _core.h -- what the files of parc._core share (see _core.c). */
#ifndef PARC_PY_CORE_H
#define PARC_PY_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <parc.h>

PyMODINIT_FUNC PyInit__core(void);

/* Each adds its part to the module: 0, or -1 with an exception set. */
int parc_py_errors_init(PyObject *m);
int parc_py_pool_init(PyObject *m);
int parc_py_chan_init(PyObject *m);
int parc_py_rng_init(PyObject *m);

/* Raises the Python exception for a libparc code (never 0): OSError with
 * the OS reason for PARC_ESYS, TimeoutError, MemoryError, ValueError for
 * PARC_EINVAL, parc._core.Error for the rest (its `code` and `name`).
 * Returns NULL, for `return parc_py_raise(rc);`. */
PyObject *parc_py_raise(int rc);

#endif
