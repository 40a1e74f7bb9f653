"""How an object travels through a parc Queue or Pipe: pickle protocol 5,
its large buffers out of band (queues.py, connection.py; the C side,
_chan.c, gets _dumps through _core._setup)."""
import pickle
import queue

from . import _core

# Buffers of at least this many bytes (numpy arrays, PickleBuffer) travel
# out of band: straight from the object's memory into the channel, and into
# a buffer the unpickled object then uses, without the two copies of an
# in-band pickle.
_OOB_MIN = 64 * 1024
_MAX_PARTS = 4000
_PLAIN = frozenset((bytes, str, int, float, bool, type(None)))


def _dumps(obj):
    """The pickle of obj (protocol 5): bytes, or a list [pickle, *buffers]
    when it has large out-of-band buffers."""
    if type(obj) in _PLAIN:
        return pickle.dumps(obj, 5)
    parts = [None]

    def keep(pb):
        try:
            m = pb.raw()
        except BufferError:  # not contiguous: in band
            return True
        if m.nbytes < _OOB_MIN:
            return True
        parts.append(m)
        return False

    data = pickle.dumps(obj, 5, buffer_callback=keep)
    if len(parts) == 1:
        return data
    if len(parts) > _MAX_PARTS:
        return pickle.dumps(obj, 5)
    parts[0] = data
    return parts


_core._setup(_dumps, queue.Empty)


def _loads(payload):
    if type(payload) is bytes:
        return pickle.loads(payload)
    return pickle.loads(payload[0], buffers=payload[1:])


def _inband(payload):
    """The payload as one in-band pickle (recv_bytes of an object that was
    sent with out-of-band buffers)."""
    if type(payload) is bytes:
        return payload
    return pickle.dumps(_loads(payload), 5)
