/* Optional C accelerator for wsframework: payload masking (RFC 6455 §5.3)
 * and the sends of a broadcast.
 *
 * apply_mask(data, mask) -> bytes   XOR data with the repeated 4-byte mask.
 * send_each(socks, data) -> list    send data to each socket, never waiting.
 * parse_small(buf, pos, masked, limit[, stop]) -> (payload, end) | None
 *                                   one whole small text/binary frame, in one pass.
 * payload_buffer(n) -> (bytes, view) a bytes object to receive a payload into.
 * mask_in_place(buf, mask, offset)  XOR a writable buffer with a rotated mask.
 * recv_small(sock, buf, masked, limit) -> payload | n
 *                                   one receive; the payload if it is one whole small frame.
 * send_now(sock, data) -> n         one send that never waits.
 * send_small(sock, data, fragment) -> unsent | None
 *                                   a small text/binary message framed and sent in one call.
 *
 * wsframework/protocol/speedups.py imports this when it is built;
 * protocol/masking.py, protocol/parser.py and sending.py fall back to pure
 * Python otherwise (or when WSFRAMEWORK_NO_SPEEDUPS is set).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

/* The start of CPython's socket object (Modules/socketmodule.h, which is
 * not an installed header): the file descriptor, -1 once closed, follows
 * the object header (an int on POSIX), in every CPython 3 version. */
typedef struct {
    PyObject_HEAD
    int sock_fd;
} socket_head;

/* _socket.socket, set at import; its instances (socket.socket, gevent's
 * OS-level sockets) have their descriptor read directly. */
static PyTypeObject *socket_type;

/* The descriptor of a socket (-1 once closed), or of anything else with
 * fileno() (-1 with an exception set when it has none).  A socket's is
 * read from the object: asking its fileno() makes a bound method and an
 * int, ~700 instructions, twice per message. */
static int
any_fd(PyObject *sock)
{
    if (socket_type != NULL && PyObject_TypeCheck(sock, socket_type))
        return ((socket_head *)sock)->sock_fd;
    return PyObject_AsFileDescriptor(sock);
}

/* out[i] = in[i] ^ mask[i % 4] for i < n, 32 bytes at a time where the
 * compiler has vector types, then 8, then 1 (in and out may be the same
 * buffer).  The one XOR loop of the module. */
static void
xor_mask(const unsigned char *in, unsigned char *out, Py_ssize_t n, const unsigned char *mask)
{
    Py_ssize_t i = 0;
    uint32_t m32;
    uint64_t m64;

    memcpy(&m32, mask, 4);
    m64 = ((uint64_t)m32 << 32) | m32;
#if defined(__GNUC__) || defined(__clang__)
    {
        /* 32 bytes a step in two 16-byte blocks of the compiler's vector
         * extension: SIMD registers wherever the target has them (SSE2 on
         * any x86-64, NEON on arm64). */
        typedef uint64_t block __attribute__((vector_size(16)));
        block mv = {m64, m64};

        for (; i + 32 <= n; i += 32) {
            block a, b;
            memcpy(&a, in + i, 16);
            memcpy(&b, in + i + 16, 16);
            a ^= mv;
            b ^= mv;
            memcpy(out + i, &a, 16);
            memcpy(out + i + 16, &b, 16);
        }
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t chunk;
        memcpy(&chunk, in + i, 8);
        chunk ^= m64;
        memcpy(out + i, &chunk, 8);
    }
    for (; i < n; i++)
        out[i] = in[i] ^ mask[i & 3];
}

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
    Py_BEGIN_ALLOW_THREADS
    xor_mask((const unsigned char *)data.buf, (unsigned char *)PyBytes_AS_STRING(result),
             data.len, (const unsigned char *)mask.buf);
    Py_END_ALLOW_THREADS
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
        int fd = any_fd(PyList_GET_ITEM(socks, i));

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

/* The payload of the whole small text or binary frame at p[0:size] (see
 * parse_small), and in *end the offset just past it.  NULL with no error
 * set when there is no such frame there; NULL with an error set on failure. */
static PyObject *
small_frame(const unsigned char *p, Py_ssize_t size, int masked, Py_ssize_t limit,
            Py_ssize_t *end)
{
    Py_ssize_t len, head;
    unsigned char tmp[125];
    PyObject *payload;

    if (size < 2)
        return NULL;
    if ((p[0] != 0x81 && p[0] != 0x82) || (p[1] >= 0x80) != masked)
        return NULL;
    len = p[1] & 0x7f;
    head = masked ? 6 : 2;
    if (len > 125 || len > limit || size < head + len)
        return NULL;
    if (masked) {
        xor_mask(p + 6, tmp, len, p + 2);
    } else {
        memcpy(tmp, p + 2, (size_t)len);
    }
    if (p[0] == 0x81) {
        payload = PyUnicode_DecodeUTF8((const char *)tmp, len, NULL);
        if (payload == NULL) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
                PyErr_Clear();                  /* the general path reports it */
            return NULL;
        }
    } else {
        payload = PyBytes_FromStringAndSize((const char *)tmp, len);
        if (payload == NULL)
            return NULL;
    }
    *end = head + len;
    return payload;
}

/* The masked and limit arguments of parse_small and recv_small; -1 with an
 * error set when they are not a truth value and an integer. */
static int
frame_args(PyObject *masked_arg, PyObject *limit_arg, int *masked, Py_ssize_t *limit)
{
    *masked = PyObject_IsTrue(masked_arg);
    if (*masked < 0)
        return -1;
    *limit = PyLong_AsSsize_t(limit_arg);
    if (*limit == -1 && PyErr_Occurred())
        return -1;
    return 0;
}

/* parse_small(buf, pos, masked, limit[, stop]) -> (payload, end) or None
 *
 * The receive path's common case in one call: buf[pos:stop] (a bytearray;
 * stop defaults to its length, and is clipped to it) starts with a whole unfragmented text (0x81) or binary (0x82) frame, no
 * RSV bits, payload length < 126 and <= limit, masked exactly when
 * `masked`.  Returns the payload (str for text, decoded and validated as
 * strict UTF-8; bytes for binary), unmasked, and the offset just past the
 * frame.  Returns None, having looked at nothing else, for any other frame,
 * for one not wholly buffered and for text that is not valid UTF-8: the
 * general parser (wsframework/protocol/parser.py) then reads it and reports the
 * error.  parser.py holds the pure-Python twin, py_parse_small. */
static PyObject *
parse_small(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t pos, size, limit, end;
    PyObject *payload, *result;
    int masked;

    if ((nargs != 4 && nargs != 5) || !PyByteArray_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "parse_small(bytearray, pos, masked, limit[, stop])");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    if (frame_args(args[2], args[3], &masked, &limit) < 0)
        return NULL;
    size = PyByteArray_GET_SIZE(args[0]);
    if (nargs == 5) {
        Py_ssize_t stop = PyLong_AsSsize_t(args[4]);
        if (stop == -1 && PyErr_Occurred())
            return NULL;
        if (stop < size)
            size = stop;
    }
    if (pos < 0 || size - pos < 2)
        Py_RETURN_NONE;
    payload = small_frame((const unsigned char *)PyByteArray_AS_STRING(args[0]) + pos,
                          size - pos, masked, limit, &end);
    if (payload == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    result = PyTuple_New(2);
    if (result == NULL) {
        Py_DECREF(payload);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, payload);
    end = pos + end;
    PyTuple_SET_ITEM(result, 1, PyLong_FromSsize_t(end));
    if (PyTuple_GET_ITEM(result, 1) == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    return result;
}

/* The file descriptor of a socket object; OSError(EBADF) once it is closed
 * (as the socket's own methods say), rather than ValueError. */
static int
socket_fd(PyObject *sock)
{
    int fd = any_fd(sock);

    if (fd < 0) {
        if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_ValueError))
            return -1;
        PyErr_Clear();
        errno = EBADF;
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    return fd;
}

/* recv_small(sock, buf, masked, limit) -> payload | n
 *
 * An event-style connection's usual wake-up: one non-blocking receive from
 * sock (anything with fileno()) into buf (a bytearray, the readers' shared
 * scratch buffer).  When what arrived is exactly one whole small text or
 * binary frame (see parse_small) the result is its payload, str or bytes.
 * Otherwise it is the byte count received into buf[:n]: 0 at the end of
 * the stream, -1 when there was nothing to read.  A failure raises OSError
 * as socket.recv_into would.  The socket never blocks here, so the GIL is
 * kept: letting it go and taking it back costs more than the system call
 * saves.  wsframework/receiving.py holds the pure-Python twin. */
static PyObject *
recv_small(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t n, limit, end;
    PyObject *payload;
    unsigned char *buf;
    int fd, masked;

    if (nargs != 4 || !PyByteArray_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "recv_small(sock, bytearray, masked, limit)");
        return NULL;
    }
    fd = socket_fd(args[0]);
    if (fd < 0)
        return NULL;
    if (frame_args(args[2], args[3], &masked, &limit) < 0)
        return NULL;
    buf = (unsigned char *)PyByteArray_AS_STRING(args[1]);
    do {
        n = recv(fd, buf, (size_t)PyByteArray_GET_SIZE(args[1]), MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return PyLong_FromLong(-1);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    payload = small_frame(buf, n, masked, limit, &end);
    if (payload != NULL) {
        if (end == n)
            return payload;
        Py_DECREF(payload);                     /* more than one frame */
    } else if (PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromSsize_t(n);
}

/* send_now(sock, data) -> n: one send of data (bytes-like) to sock that
 * never waits: the byte count the kernel took, 0 when it would have
 * blocked.  A failure raises OSError as socket.send would.  Like recv_small,
 * it keeps the GIL.  wsframework/sending.py holds the pure-Python twin. */
static PyObject *
send_now(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    Py_ssize_t sent;
    int fd;

    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "send_now(sock, data)");
        return NULL;
    }
    fd = socket_fd(args[0]);
    if (fd < 0)
        return NULL;
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0)
        return NULL;
    do {
        sent = send(fd, data.buf, (size_t)data.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    PyBuffer_Release(&data);
    if (sent < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return PyLong_FromLong(0);
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromSsize_t(sent);
}

/* send_small(sock, data, fragment) -> unsent | None
 *
 * The usual message of a server, sent in one call: data (str: a text
 * message, bytes: binary) framed unmasked as one frame, when its payload
 * is at most 125 bytes and (fragment > 0) at most fragment, and sent to
 * sock without waiting.  The result is how many bytes of the frame the
 * kernel did not take (0: all sent), or None, with nothing sent, when the
 * message is not that small.  A failure raises OSError as socket.send
 * would; a str that is not valid UTF-8 raises as str.encode() would.
 * Saves the encode, the frame's concatenation and the buffer protocol of
 * send_now (~850 instructions per message).  wsframework/sending.py holds
 * the pure-Python twin. */
static PyObject *
send_small(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    unsigned char frame[2 + 125];
    const char *payload;
    Py_ssize_t n, fragment, sent;
    PyObject *data;
    int fd;

    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "send_small(sock, data, fragment)");
        return NULL;
    }
    data = args[1];
    fragment = PyLong_AsSsize_t(args[2]);
    if (fragment == -1 && PyErr_Occurred())
        return NULL;
    if (PyUnicode_CheckExact(data)) {
        /* at least one byte per character: a longer str is never small
         * (and is not encoded here for nothing) */
        if (PyUnicode_GET_LENGTH(data) > 125)
            Py_RETURN_NONE;
        /* an ASCII str is its own UTF-8 (no copy); another keeps its
         * UTF-8 form, at most 500 bytes, as str objects do once asked */
        payload = PyUnicode_AsUTF8AndSize(data, &n);
        if (payload == NULL)
            return NULL;
        frame[0] = 0x81;
    } else if (PyBytes_CheckExact(data)) {
        payload = PyBytes_AS_STRING(data);
        n = PyBytes_GET_SIZE(data);
        frame[0] = 0x82;
    } else {
        PyErr_SetString(PyExc_TypeError, "send_small: data must be str or bytes");
        return NULL;
    }
    if (n > 125 || (fragment > 0 && n > fragment))
        Py_RETURN_NONE;
    frame[1] = (unsigned char)n;
    memcpy(frame + 2, payload, (size_t)n);
    fd = socket_fd(args[0]);
    if (fd < 0)
        return NULL;
    do {
        sent = send(fd, frame, (size_t)n + 2, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return PyErr_SetFromErrno(PyExc_OSError);
        sent = 0;
    }
    return PyLong_FromSsize_t(n + 2 - sent);
}

/* payload_buffer(n) -> (payload, view): a new bytes object of n bytes (n > 1)
 * whose contents are not set yet, and a writable memoryview on them.  A large
 * payload that arrives in pieces is received straight into the bytes object
 * its message will carry: no zero-filled bytearray, no second buffer, no
 * final copy (two fresh megabytes per 1 MiB message made glibc give the
 * memory back and fault it in again every time).  Only the frame parser
 * uses it, and it keeps both until the payload is complete: the view does
 * not keep the bytes alive, and the bytes are not shared before then. */
static PyObject *
payload_buffer(PyObject *self, PyObject *arg)
{
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    PyObject *payload, *view;

    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 2) {        /* sizes 0 and 1 may be shared singletons */
        PyErr_SetString(PyExc_ValueError, "payload_buffer needs at least 2 bytes");
        return NULL;
    }
    payload = PyBytes_FromStringAndSize(NULL, n);
    if (payload == NULL)
        return NULL;
    view = PyMemoryView_FromMemory(PyBytes_AS_STRING(payload), n, PyBUF_WRITE);
    if (view == NULL) {
        Py_DECREF(payload);
        return NULL;
    }
    return Py_BuildValue("(NN)", payload, view);
}

/* mask_in_place(buf, mask, offset): XOR the writable buffer buf with the
 * 4-byte mask as it applies offset bytes into the payload. */
static PyObject *
mask_in_place(PyObject *self, PyObject *args)
{
    Py_buffer data, mask;
    Py_ssize_t offset;

    if (!PyArg_ParseTuple(args, "w*y*n:mask_in_place", &data, &mask, &offset))
        return NULL;
    if (mask.len != 4) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&mask);
        PyErr_SetString(PyExc_ValueError, "mask must be 4 bytes long");
        return NULL;
    }
    {
        const unsigned char *m0 = (const unsigned char *)mask.buf;
        unsigned char m[4];
        int k;

        for (k = 0; k < 4; k++)             /* the mask as it applies at offset */
            m[k] = m0[(offset + k) & 3];
        Py_BEGIN_ALLOW_THREADS
        xor_mask((unsigned char *)data.buf, (unsigned char *)data.buf, data.len, m);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&mask);
    Py_RETURN_NONE;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", apply_mask, METH_VARARGS,
     "apply_mask(data, mask) -> bytes: XOR data with the repeated 4-byte mask."},
    {"send_each", send_each, METH_VARARGS,
     "send_each(socks, data) -> [(index, result)]: send data to each socket without "
     "waiting; lists those that did not take all of it (bytes sent, or -errno)."},
    {"parse_small", (PyCFunction)(void (*)(void))parse_small, METH_FASTCALL,
     "parse_small(buf, pos, masked, limit[, stop]) -> (payload, end) | None: a whole small text or "
     "binary frame at buf[pos:], unmasked and (text) decoded in one pass; None otherwise."},
    {"payload_buffer", payload_buffer, METH_O,
     "payload_buffer(n) -> (bytes, memoryview): n unset bytes to receive a payload into, "
     "and a writable view on them (for the frame parser only)."},
    {"mask_in_place", mask_in_place, METH_VARARGS,
     "mask_in_place(buf, mask, offset): XOR the writable buf with the mask as it applies "
     "offset bytes into the payload."},
    {"recv_small", (PyCFunction)(void (*)(void))recv_small, METH_FASTCALL,
     "recv_small(sock, buf, masked, limit) -> payload | n: one receive into buf; the payload "
     "if it is exactly one whole small text or binary frame, else the byte count (0: end of "
     "stream, -1: nothing to read)."},
    {"send_now", (PyCFunction)(void (*)(void))send_now, METH_FASTCALL,
     "send_now(sock, data) -> n: one send that never waits; the byte count taken (0: it "
     "would have blocked)."},
    {"send_small", (PyCFunction)(void (*)(void))send_small, METH_FASTCALL,
     "send_small(sock, data, fragment) -> unsent | None: a str (text) or bytes (binary) "
     "message of at most 125 bytes (and fragment, if > 0) framed and sent without waiting; "
     "the bytes of the frame not taken, or None (nothing sent) when it is larger."},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "wsframework._speedups",
    "C accelerator for wsframework (masking, broadcast sends, small frames).", -1, speedups_methods
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *module, *sockets;

    module = PyModule_Create(&speedups_module);
    if (module == NULL)
        return NULL;
    sockets = PyImport_ImportModule("_socket");
    if (sockets == NULL) {
        Py_DECREF(module);
        return NULL;
    }
    socket_type = (PyTypeObject *)PyObject_GetAttrString(sockets, "socket");
    Py_DECREF(sockets);
    if (socket_type == NULL || !PyType_Check(socket_type)) {
        Py_XDECREF(socket_type);            /* kept for good otherwise */
        Py_DECREF(module);
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "_socket.socket is not a type");
        return NULL;
    }
    return module;
}
