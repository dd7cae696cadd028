/* Optional C accelerator for wsframework: payload masking (RFC 6455 §5.3).
 *
 * apply_mask(data, mask) -> bytes   XOR data with the repeated 4-byte mask.
 *
 * wsframework/masking.py imports this when it is built and falls back to
 * pure Python otherwise (or when WSFRAMEWORK_NO_SPEEDUPS is set).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *
apply_mask(PyObject *self, PyObject *args)
{
    Py_buffer data, mask;
    PyObject *result = NULL;

    if (!PyArg_ParseTuple(args, "y*y*:apply_mask", &data, &mask))
        return NULL;
    if (mask.len != 4) {
        PyErr_SetString(PyExc_ValueError, "mask must be 4 bytes long");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result == NULL)
        goto done;
    {
        const unsigned char *in = (const unsigned char *)data.buf;
        const unsigned char *m = (const unsigned char *)mask.buf;
        unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
        Py_ssize_t n = data.len, i = 0;
        uint32_t m32;
        uint64_t m64;

        memcpy(&m32, m, 4);
        m64 = ((uint64_t)m32 << 32) | m32;
        Py_BEGIN_ALLOW_THREADS
        for (; i + 8 <= n; i += 8) {
            uint64_t chunk;
            memcpy(&chunk, in + i, 8);
            chunk ^= m64;
            memcpy(out + i, &chunk, 8);
        }
        for (; i < n; i++)
            out[i] = in[i] ^ m[i & 3];
        Py_END_ALLOW_THREADS
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    return result;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS,
     "apply_mask(data, mask) -> bytes: XOR data with the repeated 4-byte mask."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "wsframework._speedups",
    "C accelerator for wsframework (masking).", -1, speedups_methods
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
