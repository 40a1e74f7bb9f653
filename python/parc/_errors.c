/* _errors.c -- libparc's codes as Python exceptions (see _core.h). */
#include "_core.h"

static PyObject *ParcError; /* parc._core.Error */

PyObject *parc_py_raise(int rc) {
  switch (rc) {
  case PARC_ENOMEM: return PyErr_NoMemory();
  case PARC_EINVAL:
    PyErr_SetString(PyExc_ValueError, parc_strerror(rc));
    return NULL;
  case PARC_ETIMEDOUT:
    PyErr_SetString(PyExc_TimeoutError, parc_strerror(rc));
    return NULL;
  case PARC_ESYS: {
    parc_sys_error e;
    parc_last_sys_error(&e);
    if (e.call && !e.is_mpi) {
      PyObject *args = Py_BuildValue("(is)", e.code, e.message);
      if (args) {
        PyErr_SetObject(PyExc_OSError, args);
        Py_DECREF(args);
      }
      return NULL;
    }
    PyErr_SetString(PyExc_OSError, e.call ? e.message : parc_strerror(rc));
    return NULL;
  }
  default: {
    PyObject *args = Py_BuildValue("(iss)", rc, parc_err_name(rc),
                                   parc_strerror(rc));
    if (args) {
      PyErr_SetObject(ParcError, args);
      Py_DECREF(args);
    }
    return NULL;
  }
  }
}

int parc_py_errors_init(PyObject *m) {
  ParcError = PyErr_NewExceptionWithDoc(
      "parc._core.Error",
      "A libparc error: args are (code, name, sentence), e.g. "
      "(-10, 'ECLOSED', 'closed by the other side').",
      NULL, NULL);
  if (!ParcError)
    return -1;
  if (PyModule_AddObject(m, "Error", ParcError) < 0) {
    Py_DECREF(ParcError);
    return -1;
  }
  Py_INCREF(ParcError); /* the module's reference, and ours */
#define ADD(name, value, text)                                                 \
  if (PyModule_AddIntConstant(m, #name, PARC_##name) < 0)                      \
    return -1;
  PARC_ERRNO_MAP(ADD)
#undef ADD
  return 0;
}
