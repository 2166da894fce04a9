"""A tiny ctypes wrapper over libnanomsg.so.5: just what the integration tests
need (REQ and SUB sockets, send/recv with timeouts). No pip packages.

Values below come from <nanomsg/nn.h>, <nanomsg/reqrep.h>, <nanomsg/pubsub.h>
(nanomsg 1.1.x)."""

import ctypes
import ctypes.util
import errno
import json
import time

AF_SP = 1
NN_SOL_SOCKET = 0
NN_LINGER = 1
NN_SNDTIMEO = 4
NN_RCVTIMEO = 5
NN_RCVMAXSIZE = 16
NN_REQ = 3 * 16 + 0
NN_REP = 3 * 16 + 1
NN_REQ_RESEND_IVL = 1
NN_PUB = 2 * 16 + 0
NN_SUB = 2 * 16 + 1
NN_SUB_SUBSCRIBE = 1
NN_MSG = ctypes.c_size_t(-1).value
NN_STAT_CURRENT_CONNECTIONS = 201


def _load():
    for name in ("libnanomsg.so.5", ctypes.util.find_library("nanomsg")):
        if name:
            try:
                return ctypes.CDLL(name, use_errno=True)
            except OSError:
                pass
    raise RuntimeError("libnanomsg.so.5 not found")


_nn = _load()
_nn.nn_socket.argtypes = [ctypes.c_int, ctypes.c_int]
_nn.nn_close.argtypes = [ctypes.c_int]
_nn.nn_connect.argtypes = [ctypes.c_int, ctypes.c_char_p]
_nn.nn_bind.argtypes = [ctypes.c_int, ctypes.c_char_p]
_nn.nn_setsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_void_p, ctypes.c_size_t]
_nn.nn_send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_nn.nn_recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_nn.nn_freemsg.argtypes = [ctypes.c_void_p]
_nn.nn_errno.restype = ctypes.c_int
_nn.nn_strerror.argtypes = [ctypes.c_int]
_nn.nn_strerror.restype = ctypes.c_char_p
_nn.nn_get_statistic.argtypes = [ctypes.c_int, ctypes.c_int]
_nn.nn_get_statistic.restype = ctypes.c_uint64


class NNError(OSError):
    pass


class Timeout(NNError):
    pass


def _check(rc, what):
    if rc < 0:
        e = _nn.nn_errno()
        msg = "%s: %s" % (what, _nn.nn_strerror(e).decode())
        if e in (errno.ETIMEDOUT, errno.EAGAIN):
            raise Timeout(e, msg)
        raise NNError(e, msg)
    return rc


class Socket:
    """One nanomsg socket. Close it (or use `with`) when done."""

    def __init__(self, proto):
        self.fd = _check(_nn.nn_socket(AF_SP, proto), "nn_socket")
        self.set_int(NN_SOL_SOCKET, NN_LINGER, 0)
        self.set_int(NN_SOL_SOCKET, NN_RCVMAXSIZE, -1)

    def set_int(self, level, opt, value):
        v = ctypes.c_int(value)
        _check(_nn.nn_setsockopt(self.fd, level, opt, ctypes.byref(v), ctypes.sizeof(v)),
               "nn_setsockopt")

    def connect(self, url):
        _check(_nn.nn_connect(self.fd, url.encode()), "nn_connect " + url)
        return self

    def bind(self, url):
        _check(_nn.nn_bind(self.fd, url.encode()), "nn_bind " + url)
        return self

    def connections(self):
        return _nn.nn_get_statistic(self.fd, NN_STAT_CURRENT_CONNECTIONS)

    def wait_connected(self, timeout=5.0):
        """Block until the socket has a live connection (SUB: so no event is lost)."""
        deadline = time.monotonic() + timeout
        while self.connections() < 1:
            if time.monotonic() > deadline:
                raise Timeout(errno.ETIMEDOUT, "not connected after %.1fs" % timeout)
            time.sleep(0.01)

    def send(self, data, timeout=5.0):
        if isinstance(data, str):
            data = data.encode()
        self.set_int(NN_SOL_SOCKET, NN_SNDTIMEO, int(timeout * 1000))
        buf = ctypes.create_string_buffer(data, len(data))
        _check(_nn.nn_send(self.fd, buf, len(data), 0), "nn_send")

    def recv(self, timeout=5.0):
        """Returns the next message as bytes; raises Timeout."""
        self.set_int(NN_SOL_SOCKET, NN_RCVTIMEO, int(timeout * 1000) if timeout else -1)
        p = ctypes.c_void_p()
        n = _check(_nn.nn_recv(self.fd, ctypes.byref(p), NN_MSG, 0), "nn_recv")
        try:
            return ctypes.string_at(p, n)
        finally:
            _nn.nn_freemsg(p)

    def close(self):
        if self.fd is not None and self.fd >= 0:
            _nn.nn_close(self.fd)
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class Req(Socket):
    """REQ socket: request() sends one message and returns the parsed reply."""

    def __init__(self, url=None):
        super().__init__(NN_REQ)
        # No silent re-sends inside one test's time span: a lost reply must show.
        self.set_int(NN_REQ, NN_REQ_RESEND_IVL, 600000)
        if url:
            self.connect(url)

    def request_raw(self, data, timeout=5.0):
        self.send(data, timeout)
        return self.recv(timeout)

    def request(self, obj, timeout=5.0):
        data = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
        rep = self.request_raw(data, timeout)
        return json.loads(rep)


class Sub(Socket):
    """SUB socket subscribed to everything; events() yields parsed JSON."""

    def __init__(self, url=None):
        super().__init__(NN_SUB)
        v = ctypes.c_char_p(b"")
        _check(_nn.nn_setsockopt(self.fd, NN_SUB, NN_SUB_SUBSCRIBE, v, 0), "subscribe")
        if url:
            self.connect(url)

    def next_event(self, timeout=5.0):
        return json.loads(self.recv(timeout))
