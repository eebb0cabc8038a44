"""Content hashes: every file a later step trusts carries a sha256 of its payload, checked when it is read.

Two kinds of file carry one. A *sealed* torch file (checkpoints, warm-start weights) is one header line
`grokrepro-sealed-1 sha256=<hex>` followed by the torch.save bytes; the hash covers those bytes. A netCDF file
(group files, merged curves) carries the attribute `grokrepro_sha256`, a hash of its decoded content: every
variable's name, dimensions, dtype, values and attributes, and every global attribute but that one. A hash of
the decoded content, not of the file's bytes, because the file is written by the netCDF library and the hash
has to live inside it.

A hash here protects against corruption (a flipped bit, a rewritten value, a torn or truncated file), not
against forgery: whoever can rewrite a file can rewrite its hash.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

SEALED_MAGIC = b"grokrepro-sealed-1 sha256="
NETCDF_HASH = "grokrepro_sha256"


class CorruptFileError(ValueError):
    """A file whose content does not match the hash it carries (or that carries none where one is needed)."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def partial_name(path: str | Path) -> Path:
    """A temporary name beside `path`, unique to this process: two writers of one file never share it."""
    path = Path(path)
    return path.with_name(f"{path.name}.{os.getpid()}.partial")


# -- sealed torch files --------------------------------------------------------------------------------------
def write_sealed(obj, path: str | Path) -> None:
    """torch.save `obj` to `path` (written whole, flushed to disk) behind a header with its sha256."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    with open(path, "wb") as handle:
        handle.write(SEALED_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n")
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def read_sealed(path: str | Path, weights_only: bool):
    """The object in a sealed file; CorruptFileError if its payload does not match its sha256."""
    import torch

    with open(path, "rb") as handle:
        header = handle.readline(len(SEALED_MAGIC) + 65)
        if not header.startswith(SEALED_MAGIC) or len(header) != len(SEALED_MAGIC) + 65:
            raise CorruptFileError(f"{path}: no content hash header (not a sealed grokrepro file)")
        expected = header[len(SEALED_MAGIC):-1].decode("ascii", "replace")
        payload = handle.read()
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise CorruptFileError(f"{path}: content does not match its sha256 (recorded {expected[:12]}..., "
                               f"found {actual[:12]}...)")
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=weights_only)


# -- netCDF files ---------------------------------------------------------------------------------------------
def _plain(value):
    """An attribute value as JSON-able Python (netCDF reads numbers back as numpy scalars or arrays)."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _attrs_text(attrs: dict, leave_out: str | None = None) -> bytes:
    plain = {str(k): _plain(v) for k, v in attrs.items() if k != leave_out}
    return json.dumps(plain, sort_keys=True, default=str).encode()


def dataset_sha256(dataset) -> str:
    """sha256 of an xarray Dataset's decoded content, without its own NETCDF_HASH attribute."""
    digest = hashlib.sha256()
    for name in sorted(map(str, dataset.variables)):
        variable = dataset.variables[name]
        values = np.asarray(variable.values)
        digest.update(json.dumps([name, list(variable.dims), values.dtype.kind, list(values.shape)]).encode())
        if values.dtype.kind in "OUS":  # strings: by text, whatever width or object dtype they were read back as
            digest.update(json.dumps([_plain(v) for v in values.ravel().tolist()], default=str).encode())
        else:
            digest.update(np.ascontiguousarray(values).astype(values.dtype.newbyteorder("<")).tobytes())
        digest.update(_attrs_text(variable.attrs))
    digest.update(_attrs_text(dataset.attrs, leave_out=NETCDF_HASH))
    return digest.hexdigest()


def seal_netcdf(path: str | Path) -> str:
    """Read a just-written netCDF file back, and add the hash of what was read as its NETCDF_HASH attribute.
    Hashing the read-back content makes the check on a later read compare like with like."""
    import netCDF4
    import xarray as xr

    digest = dataset_sha256(xr.load_dataset(path, engine="netcdf4"))
    with netCDF4.Dataset(path, "a") as handle:
        handle.setncattr(NETCDF_HASH, digest)
    return digest


def verify_dataset(dataset, path: str | Path) -> None:
    """CorruptFileError unless the dataset read from `path` matches the hash it carries."""
    recorded = dataset.attrs.get(NETCDF_HASH)
    if recorded is None:
        raise CorruptFileError(f"{path}: carries no content hash ('{NETCDF_HASH}'), so it cannot be checked")
    actual = dataset_sha256(dataset)
    if actual != str(recorded):
        raise CorruptFileError(f"{path}: content does not match its sha256 (recorded {str(recorded)[:12]}..., "
                               f"found {actual[:12]}...)")


def set_aside(path: str | Path) -> Path:
    """Move a corrupt file out of the workflow's way (kept for inspection), so that the next run remakes it."""
    path = Path(path)
    aside = path.with_name(f"{path.name}.corrupt")
    os.replace(path, aside)
    return aside
