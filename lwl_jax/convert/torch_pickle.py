"""Read PyTorch ``torch.save`` files with NumPy only: no torch import, no code from the file executed.

Two on-disk formats are supported:
* zip (torch ≥ 1.6): ``<folder>/data.pkl`` + ``<folder>/data/<key>`` raw storages (+ ``byteorder``); the folder
  is ``archive`` for ``torch.save`` and e.g. ``LWTLNet_ep0001`` for the reference's trainer files;
* legacy (torch < 1.6): magic number, protocol and system-info pickles, the object pickle, the storage-key list,
  then each storage as an int64 element count followed by its bytes.

The unpickler's ``find_class`` rebuilds only what a checkpoint legitimately contains: tensors
(``torch._utils._rebuild_tensor_v2`` / ``_rebuild_parameter`` over ``torch.*Storage``), ``OrderedDict``, a few
inert builtins and NumPy scalars/dtypes/arrays. A global from a module that can run code (``os``, ``subprocess``,
``builtins.exec``/``eval``, ``importlib``, …) aborts the load with :class:`UnsafeCheckpointError`; any other unknown
class (e.g. the reference's ``ltr.admin.*`` settings objects, legacy ``dlframework.*`` names) becomes an inert
:class:`Placeholder` that only records its arguments and state.
"""
from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from lwl_jax.convert.errors import CheckpointError, UnsafeCheckpointError

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}

# Modules whose globals can execute code or touch the system: a pickle that names one is refused.
UNSAFE_MODULES = {
    "os", "posix", "nt", "subprocess", "sys", "shutil", "importlib", "runpy", "pty", "socket", "ctypes",
    "code", "codeop", "pickle", "_pickle", "marshal", "types", "webbrowser", "multiprocessing", "signal",
    "asyncio", "pdb", "timeit", "platform", "io", "_io", "tempfile", "pathlib", "glob", "operator",
    "functools", "builtins", "__builtin__", "commands", "popen2", "threading", "_thread", "inspect",
    "ast", "dill", "cloudpickle", "torch.hub", "torch.serialization", "urllib", "http", "requests",
}
SAFE_BUILTINS = {"set": set, "frozenset": frozenset, "complex": complex, "slice": slice, "bytearray": bytearray,
                 "tuple": tuple, "list": list, "dict": dict, "int": int, "float": float, "str": str,
                 "bool": bool, "bytes": bytes, "range": range, "object": object}


class Placeholder:
    """Inert stand-in for a class the loader does not know (never calls the original)."""
    _module = "?"
    _name = "?"

    def __init__(self, *args, **kwargs):
        self._args, self._kwargs = args, kwargs

    def __setstate__(self, state):
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self._state = state

    def __repr__(self):
        return f"<placeholder {self._module}.{self._name}>"


_placeholder_types: dict = {}


def placeholder_type(module: str, name: str):
    key = (module, name)
    if key not in _placeholder_types:
        _placeholder_types[key] = type(name, (Placeholder,), {"_module": module, "_name": name})
    return _placeholder_types[key]


class _StorageType:
    def __init__(self, name):
        self.name = name
        self.dtype = STORAGE_DTYPES[name]


class _Storage:
    """A storage's dtype and, once read, its flat array."""

    def __init__(self, dtype, key):
        self.dtype, self.key, self.array = dtype, key, None


class _LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self):
        arr = self.storage.array
        if arr is None:
            raise CheckpointError(f"storage {self.storage.key} is missing from the file")
        item = arr.dtype.itemsize
        need = self.offset + sum((s - 1) * st for s, st in zip(self.size, self.stride)) + 1 if all(self.size) else 0
        if need > arr.size:
            raise CheckpointError(f"storage {self.storage.key} is truncated ({arr.size} of {need} elements)")
        view = np.lib.stride_tricks.as_strided(arr[self.offset:], self.size, [s * item for s in self.stride])
        return np.array(view)


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise CheckpointError("malformed tensor record")
    return _LazyTensor(storage, offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, hooks=None, *rest):
    return data


def _numpy_scalar(dtype, data=None):
    return np.frombuffer(data, dtype=dtype)[0] if data is not None else dtype.type()


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    return str(obj).encode(encoding, errors)


def _reconstructor(cls, base, state=None):
    if isinstance(cls, type) and issubclass(cls, Placeholder):
        obj = cls()
        if state is not None:
            obj._state = state
        return obj
    raise UnsafeCheckpointError(f"copyreg._reconstructor of {cls!r}")


_np_reconstruct = np._core.multiarray._reconstruct  # rebuilds an ndarray from its own data only

SAFE_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "Size"): tuple,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _codecs_encode,
    ("copyreg", "_reconstructor"): _reconstructor,
}


def _is_unsafe(module: str, name: str) -> bool:
    root = module.split(".")[0]
    if module in ("builtins", "__builtin__"):
        return name not in SAFE_BUILTINS
    if module in UNSAFE_MODULES or root in UNSAFE_MODULES:
        return True
    return name in {"system", "popen", "exec", "eval", "execfile", "compile", "__import__", "getattr",
                    "setattr", "delattr", "open", "spawn", "call", "run", "check_output", "Popen", "load", "loads"}


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, storage_loader):
        super().__init__(file, encoding="latin1")
        self._storage_loader = storage_loader

    def find_class(self, module, name):
        if (module, name) in SAFE_GLOBALS:
            return SAFE_GLOBALS[(module, name)]
        if module in ("builtins", "__builtin__") and name in SAFE_BUILTINS:
            return SAFE_BUILTINS[name]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        if _is_unsafe(module, name):
            raise UnsafeCheckpointError(f"its pickle refers to {module}.{name}, which could execute code")
        return placeholder_type(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise CheckpointError(f"unknown persistent id {pid!r:.80}")
        storage_type, key = pid[1], str(pid[2])
        if isinstance(storage_type, _StorageType):
            dtype = storage_type.dtype
        elif len(pid) > 5 and isinstance(pid[5], np.dtype):
            dtype = pid[5]
        else:
            raise CheckpointError(f"unsupported storage type {storage_type!r}")
        return self._storage_loader(key, dtype)


def _materialize(obj, seen=None):
    """Replace every lazy tensor in a nested structure by a NumPy array."""
    if seen is None:
        seen = set()
    if isinstance(obj, _LazyTensor):
        return obj.materialize()
    if id(obj) in seen:
        return obj
    seen.add(id(obj))
    if isinstance(obj, dict):
        for k in list(obj.keys()):
            obj[k] = _materialize(obj[k], seen)
        return obj
    if isinstance(obj, list):
        obj[:] = [_materialize(v, seen) for v in obj]
        return obj
    if isinstance(obj, tuple):
        return tuple(_materialize(v, seen) for v in obj)
    if isinstance(obj, Placeholder):
        for k, v in list(vars(obj).items()):
            setattr(obj, k, _materialize(v, seen))
    return obj


def _load_zip(zf: zipfile.ZipFile):
    pkl = [n for n in zf.namelist() if n.endswith("data.pkl")]
    if not pkl:
        raise CheckpointError("zip file without data.pkl: not a PyTorch checkpoint")
    prefix = pkl[0][: -len("data.pkl")]
    names = set(zf.namelist())
    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = zf.read(prefix + "byteorder").decode().strip()
    storages = {}

    def load_storage(key, dtype):
        if key not in storages:
            name = f"{prefix}data/{key}"
            if name not in names:
                raise CheckpointError(f"storage {key} is missing from the archive")
            dt = np.dtype(dtype).newbyteorder("<" if byteorder == "little" else ">")
            st = _Storage(dt, key)
            st.array = np.frombuffer(zf.read(name), dtype=dt)
            storages[key] = st
        return storages[key]

    obj = RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])), load_storage).load()
    return _materialize(obj)


def _load_legacy(f):
    f.seek(0)
    plain = RestrictedUnpickler(f, lambda *a: (_ for _ in ()).throw(CheckpointError("unexpected storage")))
    magic = plain.load()
    if magic != LEGACY_MAGIC:
        raise CheckpointError("not a PyTorch checkpoint (no zip archive, no legacy magic number)")
    RestrictedUnpickler(f, None).load()  # protocol version
    RestrictedUnpickler(f, None).load()  # system info
    storages = {}

    def load_storage(key, dtype):
        if key not in storages:
            storages[key] = _Storage(np.dtype(dtype), key)
        return storages[key]

    obj = RestrictedUnpickler(f, load_storage).load()
    keys = RestrictedUnpickler(f, None).load()
    for key in keys:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"file ends inside storage {key}")
        (numel,) = struct.unpack("<q", head)
        st = storages.get(str(key))
        if st is None:
            raise CheckpointError(f"storage {key} is not referenced")
        nbytes = numel * st.dtype.itemsize
        data = f.read(nbytes)
        if len(data) < nbytes:
            raise CheckpointError(f"file ends inside storage {key}")
        st.array = np.frombuffer(data, dtype=st.dtype)
    return _materialize(obj)


def load(path: str | os.PathLike):
    """Load a ``torch.save`` file into plain Python/NumPy objects. Raises :class:`CheckpointError` (one line)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such file")
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                return _load_zip(zf)
        with open(path, "rb") as f:
            return _load_legacy(f)
    except UnsafeCheckpointError as e:
        raise UnsafeCheckpointError(f"{path}: refused to load: {e}") from None
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile, struct.error, ValueError, TypeError,
            KeyError, IndexError, AttributeError, UnicodeDecodeError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({type(e).__name__}: {msg[:200]})") \
            from None
