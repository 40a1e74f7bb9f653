"""multiprocessing's Pipe and Connection on a shared parc_pipe
(docs/python.md, "Queue, Pipe, Lock, Process"): a dead peer is EOFError,
never a hang; send and recv take a timeout.
"""
from . import _core
from ._payload import _inband

__all__ = ["Pipe", "Connection"]

def Pipe(duplex=True):
    """Two Connections joined by a shared parc_pipe: (conn1, conn2); with
    duplex=False conn1 only receives and conn2 only sends."""
    a, b = _core.pipe()
    if duplex:
        return Connection(a), Connection(b)
    return Connection(a, writable=False), Connection(b, readable=False)


class Connection:
    """multiprocessing.connection.Connection on one end of a parc_pipe.

    recv() raises EOFError once the other end is closed or its process has
    died (after what it sent has been received); send() then raises
    BrokenPipeError. A parc extension: send, send_bytes, recv and
    recv_bytes take timeout= (TimeoutError)."""

    def __init__(self, end, readable=True, writable=True):
        if not readable and not writable:
            raise ValueError("at least one of `readable` and `writable` "
                             "must be True")
        self._end = end
        self._readable = readable
        self._writable = writable

    def __reduce__(self):
        self._check_closed()
        return Connection, (self._end, self._readable, self._writable)

    def _check_closed(self):
        if self._end is None:
            raise OSError("handle is closed")

    def _check_readable(self):
        self._check_closed()
        if not self._readable:
            raise OSError("connection is write-only")

    def _check_writable(self):
        self._check_closed()
        if not self._writable:
            raise OSError("connection is read-only")

    def _bind(self):
        """Makes this process the end's user now (Process.start does it in
        the child for the connections it passes)."""
        if self._end is not None:
            self._end.bind()

    @property
    def closed(self):
        return self._end is None

    @property
    def readable(self):
        return self._readable

    @property
    def writable(self):
        return self._writable

    def fileno(self):
        raise OSError("a parc Connection has no file descriptor: use "
                      "poll(timeout)")

    def close(self):
        if self._end is not None:
            end, self._end = self._end, None
            end.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, obj, *, timeout=None):
        if self._end is None or not self._writable:
            self._check_writable()
        self._end.send_obj(obj, timeout)

    def send_bytes(self, buf, offset=0, size=None, *, timeout=None):
        end = self._end
        if (type(buf) is bytes and offset == 0 and size is None
                and end is not None and self._writable):
            if not end.send(buf, timeout):
                raise TimeoutError("send timed out")
            return
        self._check_writable()
        m = memoryview(buf)
        if m.itemsize > 1:
            m = m.cast("B")
        n = m.nbytes
        if offset < 0:
            raise ValueError("offset is negative")
        if n < offset:
            raise ValueError("buffer length < offset")
        if size is None:
            size = n - offset
        elif size < 0:
            raise ValueError("size is negative")
        elif offset + size > n:
            raise ValueError("buffer length < offset + size")
        if not self._end.send(m[offset:offset + size], timeout):
            raise TimeoutError("send timed out")

    def recv(self, *, timeout=None):
        if self._end is None or not self._readable:
            self._check_readable()
        return self._end.recv_obj(timeout)

    def recv_bytes(self, maxlength=None, *, timeout=None):
        if self._end is None or not self._readable:
            self._check_readable()
        if maxlength is not None and maxlength < 0:
            raise ValueError("negative maxlength")
        payload = self._end.recv(timeout)
        if type(payload) is not bytes:
            if payload is None:
                raise TimeoutError("recv timed out")
            payload = _inband(payload)
        if maxlength is not None and len(payload) > maxlength:
            self.close()
            raise OSError("bad message length")
        return payload

    def recv_bytes_into(self, buf, offset=0):
        self._check_readable()
        m = memoryview(buf)
        if m.itemsize > 1:
            m = m.cast("B")
        if offset < 0 or offset > m.nbytes:
            raise ValueError("negative offset" if offset < 0
                             else "offset too large")
        r = self._end.recv_into(m, offset)
        if type(r) is int:
            return r
        if type(r) is tuple:   # ("short", message)
            msg = r[1]
        else:                  # an object with out-of-band buffers
            msg = _inband(r)
            if len(msg) <= m.nbytes - offset:
                m[offset:offset + len(msg)] = msg
                return len(msg)
        from multiprocessing import BufferTooShort
        raise BufferTooShort(msg)

    def poll(self, timeout=0.0):
        """True if there is something to receive (a message, or the end of
        the other side) within timeout seconds (None: wait for it)."""
        self._check_readable()
        return self._end.poll(timeout)

    def __repr__(self):
        state = "closed" if self._end is None else (
            "duplex" if self._readable and self._writable
            else "read-only" if self._readable else "write-only")
        return f"<parc.Connection {state} at {id(self):#x}>"
