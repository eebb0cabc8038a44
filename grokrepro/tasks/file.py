"""A dataset the user ships: `task: {kind: file, path: data.npz}`, the path relative to the spec file's folder.

The .npz file (numpy.savez) holds
  inputs       (n, d) integers (operand tokens, which a model embeds) or floats (vectors, which it reads)
  labels       (n,) integers (classes) or floats (regression targets)
  train_index, test_index   disjoint, non-empty index arrays into the n examples
  n_symbols    optional: the token vocabulary (default: largest token + 1; integer inputs only)
  n_classes    optional: the classes (default: largest label + 1; integer labels only)

The file is checked when the spec is validated, and a bad one is refused with what is wrong. Its sha256 is part
of the task's settings (filled in at validation; a written one must match), so editing the data names new runs
instead of reusing results trained on the old data. The split is the file's: every seed trains on it.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from grokrepro.registry import SPEC_FOLDER, TASKS, Strict
from grokrepro.tasks.dataset import Dataset

# The file, and all its arrays once unpacked (a compressed file may unpack to far more than its size).
MAX_BYTES = 2**28
REQUIRED = ("inputs", "labels", "train_index", "test_index")
OPTIONAL = ("n_symbols", "n_classes")

# Files checked in this process: (resolved path, size, mtime) -> sha256 or the problem found, since a spec
# validates its task once per scale and sweep point; and sha256 -> resolved path, for make_dataset.
_CHECKED: dict[tuple[str, int, int], tuple[str, str]] = {}
_FILES: dict[str, Path] = {}


class FileTask(Strict):
    kind: Literal["file"]
    # Before `path`, whose validator compares it with the file's. Left out, it is filled in.
    sha256: Optional[str] = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    path: str = Field(min_length=1)  # relative to the spec file's folder (outside a spec: the working directory)
    # The file fixes the split, so one dataset serves every seed (the runs' datasets share one id).
    split_seed: Literal[0] = 0

    @field_validator("path")
    @classmethod
    def _check_file(cls, path: str, info: ValidationInfo) -> str:
        written = info.data.get("sha256")
        folder = SPEC_FOLDER.get()
        if folder is None and written is not None:
            # settings dumped from a loaded spec (e.g. as expand_runs validates each run's): checked then, and
            # make_dataset checks the file's sha256 again
            return path
        digest = check_data_file(resolved_path(path, folder))
        if written is not None and written != digest:
            raise ValueError(f"the file's sha256 is {digest}, not the {written} that task.sha256 says: the data "
                             "changed; restore it, or remove task.sha256 to accept the new data")
        return path

    @model_validator(mode="after")
    def _fill_sha256(self):
        if self.sha256 is None:  # frozen settings: set once, here, as validation completes
            object.__setattr__(self, "sha256", check_data_file(resolved_path(self.path, SPEC_FOLDER.get())))
        return self


def resolved_path(path: str, folder: Path | None) -> Path:
    return ((Path.cwd() if folder is None else folder) / path).resolve()


def check_data_file(path: Path) -> str:
    """The file's sha256 if it holds a valid dataset; a ValueError saying what is wrong otherwise."""
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _CHECKED:
        try:
            digest, _ = _read(path)
            _CHECKED[key] = (digest, "")
            _FILES[digest] = path
        except ValueError as error:
            _CHECKED[key] = ("", str(error))
    digest, problem = _CHECKED[key]
    if problem:
        raise ValueError(problem)
    return digest


def _read(path: Path) -> tuple[str, Dataset]:
    """The file's sha256 and the dataset in it (one read, so both are of the same bytes), or a ValueError naming
    the first problem."""
    name, size = path.name, path.stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"{name} is {size} bytes; the limit is {MAX_BYTES} ({MAX_BYTES >> 20} MiB)")
    raw = path.read_bytes()
    if not zipfile.is_zipfile(io.BytesIO(raw)):
        raise ValueError(f"{name} is not an .npz file (numpy.savez writes one)")
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        unpacked = sum(entry.file_size for entry in archive.infolist())
    if unpacked > MAX_BYTES:
        raise ValueError(f"{name} unpacks to {unpacked} bytes; the limit is {MAX_BYTES} ({MAX_BYTES >> 20} MiB)")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except Exception as error:  # a broken member, or object arrays (which would need pickle)
        raise ValueError(f"{name} cannot be read as an .npz file: {type(error).__name__}: {error}") from None
    return hashlib.sha256(raw).hexdigest(), _dataset(name, arrays)


def _dataset(name: str, arrays: dict[str, np.ndarray]) -> Dataset:
    missing = [key for key in REQUIRED if key not in arrays]
    unknown = sorted(set(arrays) - set(REQUIRED) - set(OPTIONAL))
    if missing:
        raise ValueError(f"{name} has no array {', '.join(missing)} (it needs {', '.join(REQUIRED)})")
    if unknown:
        raise ValueError(f"{name} has arrays {', '.join(unknown)} that are not part of the format "
                         f"({', '.join(REQUIRED + OPTIONAL)})")
    inputs, labels = _inputs(name, arrays["inputs"]), _labels(name, arrays["labels"])
    if len(labels) != len(inputs):
        raise ValueError(f"{name}: labels has {len(labels)} entries but inputs has {len(inputs)} rows")
    train_index, test_index = (_index(name, key, arrays[key], len(inputs)) for key in ("train_index", "test_index"))
    shared = np.intersect1d(train_index, test_index)
    if len(shared):
        raise ValueError(f"{name}: train_index and test_index share {len(shared)} indices (e.g. {shared[0]}); "
                         "a test example must not be trained on")
    tokens, classes = np.issubdtype(inputs.dtype, np.integer), np.issubdtype(labels.dtype, np.integer)
    n_symbols = _size(name, arrays, "n_symbols", inputs, tokens, "tokens", "inputs are floats")
    n_classes = _size(name, arrays, "n_classes", labels, classes, "labels", "labels are floats (regression)")
    return Dataset(inputs, labels, train_index, test_index, n_symbols or 0, {}, n_classes)


def _inputs(name: str, inputs: np.ndarray) -> np.ndarray:
    if inputs.ndim != 2 or 0 in inputs.shape:
        raise ValueError(f"{name}: inputs has shape {inputs.shape}; it must be (n, d) with n, d >= 1")
    return _integers_or_floats(name, "inputs", inputs, "tokens")


def _labels(name: str, labels: np.ndarray) -> np.ndarray:
    if labels.ndim != 1:
        raise ValueError(f"{name}: labels has shape {labels.shape}; it must be (n,)")
    return _integers_or_floats(name, "labels", labels, "classes")


def _integers_or_floats(name: str, key: str, values: np.ndarray, integers_are: str) -> np.ndarray:
    """Integer `values` as int64 (`integers_are`: tokens or classes, each >= 0); float ones as finite float32."""
    if np.issubdtype(values.dtype, np.integer):
        if values.size and values.min() < 0:
            raise ValueError(f"{name}: integer {key} are {integers_are} and must be >= 0; the smallest is "
                             f"{values.min()}")
        return values.astype(np.int64)
    if not np.issubdtype(values.dtype, np.floating):
        raise ValueError(f"{name}: {key} has dtype {values.dtype}; it must hold integers ({integers_are}) or floats")
    _finite(name, key, values)
    return values.astype(np.float32)


def _finite(name: str, key: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise ValueError(f"{name}: {key} holds {int(bad.sum())} NaN or infinite values (the first at "
                         f"{tuple(int(i) for i in where) if len(where) > 1 else int(where[0])})")


def _index(name: str, key: str, index: np.ndarray, n: int) -> np.ndarray:
    if index.ndim != 1 or not len(index) or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(f"{name}: {key} must be a non-empty 1-d integer array; it has shape {index.shape} and "
                         f"dtype {index.dtype}")
    outside = index[(index < 0) | (index >= n)]
    if len(outside):
        raise ValueError(f"{name}: {key} holds {outside[0]}, outside the {n} examples (0 to {n - 1})")
    if len(np.unique(index)) != len(index):
        raise ValueError(f"{name}: {key} repeats indices")
    return index.astype(np.int64)


def _size(name: str, arrays: dict, key: str, values: np.ndarray, discrete: bool, what: str, why_not: str):
    """n_symbols or n_classes: as given (it must exceed every token or label) or the largest + 1."""
    if key not in arrays:
        return int(values.max()) + 1 if discrete else None
    given = arrays[key]
    if not discrete:
        raise ValueError(f"{name}: {key} is given but the {why_not}")
    if given.shape != () or not np.issubdtype(given.dtype, np.integer):
        raise ValueError(f"{name}: {key} must be one integer; it has shape {given.shape} and dtype {given.dtype}")
    if int(given) <= values.max():
        raise ValueError(f"{name}: {key} = {int(given)}, but the {what} reach {values.max()}")
    return int(given)


@TASKS.register("file", FileTask)
def file_dataset(task: FileTask, split_seed: int) -> Dataset:
    path = _FILES.get(task.sha256)
    if path is None:
        raise ValueError(f"task.path {task.path!r}: no file with sha256 {task.sha256} was checked in this process; "
                         "load the spec (load_spec) before making its datasets")
    digest, data = _read(path)
    if digest != task.sha256:
        raise ValueError(f"task.path {task.path!r}: {path} changed after the spec was loaded")
    return data
