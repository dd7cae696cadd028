/* Optional C accelerator for wsframework: payload masking (RFC 6455 §5.3)
 * and the sends of a broadcast.
 *
 * apply_mask(data, mask) -> bytes   XOR data with the repeated 4-byte mask.
 * send_each(socks, data) -> list    send data to each socket, never waiting.
 *
 * wsframework/masking.py and wsframework/sending.py import this when it is
 * built and fall back to pure Python otherwise (or when
 * WSFRAMEWORK_NO_SPEEDUPS is set).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

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

/* send_each(socks, data): one non-blocking send() of data to each socket
 * of the list (anything with fileno()).  Returns [(index, result), ...] for
 * the sockets that did not take all of it: result is the byte count sent
 * (0 when the socket would block) or -errno.  A broadcast to a thousand
 * connections spends its time in the kernel; this keeps the interpreter
 * out of the loop between the system calls. */
static PyObject *
send_each(PyObject *self, PyObject *args)
{
    PyObject *socks, *short_ones = NULL;
    Py_buffer data;
    Py_ssize_t i, n;

    if (!PyArg_ParseTuple(args, "O!y*:send_each", &PyList_Type, &socks, &data))
        return NULL;
    short_ones = PyList_New(0);
    if (short_ones == NULL)
        goto done;
    n = PyList_GET_SIZE(socks);
    for (i = 0; i < n && i < PyList_GET_SIZE(socks); i++) {
        Py_ssize_t sent;
        int fd = PyObject_AsFileDescriptor(PyList_GET_ITEM(socks, i));

        if (fd < 0) {                           /* closed: fileno() is -1 */
            PyErr_Clear();
            sent = -EBADF;
        } else {
            do {
                sent = send(fd, data.buf, (size_t)data.len, MSG_DONTWAIT | MSG_NOSIGNAL);
            } while (sent < 0 && errno == EINTR);
            if (sent < 0)
                sent = (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
        }
        if (sent != data.len) {
            PyObject *item = Py_BuildValue("(nn)", i, sent);
            if (item == NULL || PyList_Append(short_ones, item) < 0) {
                Py_XDECREF(item);
                Py_CLEAR(short_ones);
                goto done;
            }
            Py_DECREF(item);
        }
    }
done:
    PyBuffer_Release(&data);
    return short_ones;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS,
     "apply_mask(data, mask) -> bytes: XOR data with the repeated 4-byte mask."},
    {"send_each", send_each, METH_VARARGS,
     "send_each(socks, data) -> [(index, result)]: send data to each socket without "
     "waiting; lists those that did not take all of it (bytes sent, or -errno)."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "wsframework._speedups",
    "C accelerator for wsframework (masking, broadcast sends).", -1, speedups_methods
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
