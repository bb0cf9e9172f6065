"""Plain data: the only thing that crosses from the student's process to the checker (numbers,
strings, containers, NumPy arrays of numbers, by exact type; never an object with behaviour)."""

import base64
import hashlib
import json


def numpy_module():
    import numpy

    return numpy


def encode(value, depth: int = 0):
    """A value as JSON-able plain data (numbers, strings, containers, NumPy arrays of numbers), by
    exact type only: an object of any other type (or a subclass) becomes {"__unsupported__": type}."""
    np = numpy_module()
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if depth > 30:
        return {"__unsupported__": "nesting deeper than 30"}
    if kind is list:
        return [encode(v, depth + 1) for v in value]
    if kind is tuple:
        return {"__tuple__": [encode(v, depth + 1) for v in value]}
    if kind is dict:
        return {"__dict__": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]}
    if kind is np.ndarray and value.dtype.kind in "biufc":
        return {
            "__ndarray__": [
                value.dtype.str,
                list(value.shape),
                base64.b64encode(np.ndarray.tobytes(value)).decode(),
            ]
        }
    if kind in _scalar_types(np):
        return {"__scalar__": [np.dtype(kind).str, base64.b64encode(kind.tobytes(value)).decode()]}
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if kind is type(np):
        try:
            return {"__module__": str(value.__name__)}
        except Exception:  # noqa: BLE001 - a module whose name cannot be read
            return {"__unsupported__": "module"}
    try:
        name = type.__dict__["__qualname__"].__get__(kind)
    except Exception:  # noqa: BLE001 - a type whose name cannot be read
        name = "?"
    return {"__unsupported__": str(name)}


def _scalar_types(np) -> set:
    return {
        t
        for t in (
            np.bool_,
            np.int8,
            np.int16,
            np.int32,
            np.int64,
            np.uint8,
            np.uint16,
            np.uint32,
            np.uint64,
            np.float16,
            np.float32,
            np.float64,
            np.longdouble,
            np.complex64,
            np.complex128,
        )
    }


class NotPlain:
    """What a value that was not plain data becomes in the checker: equal to nothing but itself."""

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self):
        return f"<a {self.kind} object, not a plain value>"


MODULES = ("numpy", "math", "random", "itertools", "functools", "collections", "statistics")


def decode(data, unsupported: list):
    """Plain data back into values (in the checker, which runs no student code)."""
    np = numpy_module()
    if isinstance(data, list):
        return [decode(v, unsupported) for v in data]
    if not isinstance(data, dict):
        return data
    ((key, payload),) = data.items()
    if key == "__tuple__":
        return tuple(decode(v, unsupported) for v in payload)
    if key == "__dict__":
        return {_hashable(decode(k, unsupported)): decode(v, unsupported) for k, v in payload}
    if key in ("__ndarray__", "__scalar__"):
        dtype = np.dtype(payload[0])
        if dtype.kind not in "biufc" or dtype.fields:
            unsupported.append(f"array of {dtype}")
            return NotPlain(f"array of {dtype}")
        flat = np.frombuffer(base64.b64decode(payload[-1]), dtype=dtype)
        return flat.reshape(payload[1]).copy() if key == "__ndarray__" else flat[0]
    if key == "__ellipsis__":
        return ...
    if key == "__module__" and payload in MODULES:
        import importlib

        return importlib.import_module(payload)
    unsupported.append(str(payload))
    return NotPlain(str(payload))


def _hashable(value):
    return value if not isinstance(value, (list, NotPlain)) else repr(value)


def call_key(args, kwargs) -> str:
    """The arguments of a call, as a digest of their plain data."""
    data = [encode(list(args)), sorted([k, encode(v)] for k, v in kwargs.items())]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
