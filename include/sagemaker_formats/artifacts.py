"""SageMaker `model.tar.gz` artifacts of the built-in PCA and K-Means.

An artifact is a gzip'd tar holding one member, `model_algo-1`, at its root: an MXNet NDArray file
(`include.sagemaker_formats.mxnet_ndarray`). PCA stores a dict `s`, `v`, `mean`; K-Means a list holding the
(k, feature_dim) centroids. Archives are read in memory, never extracted to disk.

Written archives match SageMaker's golden ones in member name, mode (0644), owner (root:root) and member
bytes. They differ harmlessly in timestamps: the member's mtime and the gzip header's mtime are 0 and the
gzip header names no file, so the same model always gives the same bytes (and the same S3 ETag).

Reading is bounded: the archive is inflated as a stream, members are checked one by one as their
headers arrive (at most MAX_ARCHIVE_MEMBERS, each declaring at most MAX_MODEL_BYTES), and the stream
refuses to be read past MAX_MODEL_BYTES plus room for headers, so a gzip bomb is refused having
inflated at most that much.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from dataclasses import dataclass

import numpy as np

from include.sagemaker_formats import mxnet_ndarray

MEMBER = "model_algo-1"
# Members in one archive: SageMaker's hold one; a few more (folders, notes) are tolerated.
MAX_ARCHIVE_MEMBERS = 16
# Declared size of one member: a float32 model of 64 M values, far above any PCA or K-Means of the census.
MAX_MODEL_BYTES = 256 << 20
# Inflated bytes the archive may span: one largest member plus headers and padding (512-byte blocks).
_MAX_ARCHIVE_BYTES = MAX_MODEL_BYTES + (MAX_ARCHIVE_MEMBERS + 8) * 4 * 512


class ArtifactError(ValueError):
    """A model.tar.gz that is unsafe, incomplete or inconsistent."""


@dataclass(frozen=True)
class PCAModel:
    """PCA model as SageMaker stores it.

    s: (n_components,) float32 singular values, ascending (largest last), as stored.
    v: (feature_dim, n_components) float32, column j is the axis of s[j].
    mean: (1, feature_dim) float32 column means of the training data (zeros when not subtracted).
    """

    s: np.ndarray
    v: np.ndarray
    mean: np.ndarray

    def __post_init__(self) -> None:
        # Stored as float32, SageMaker's dtype, whatever precision the caller computed in.
        s, v, mean = (np.asarray(a, dtype="float32") for a in (self.s, self.v, self.mean))
        object.__setattr__(self, "s", s)
        object.__setattr__(self, "v", v)
        object.__setattr__(self, "mean", mean)
        if s.ndim != 1 or v.ndim != 2 or v.shape[1] != s.shape[0]:
            raise ArtifactError(f"PCA shapes disagree: s {s.shape}, v {v.shape} (v must be feature_dim × len(s))")
        if mean.shape != (1, v.shape[0]):
            raise ArtifactError(f"PCA mean has shape {mean.shape}, expected (1, {v.shape[0]})")

    @classmethod
    def from_largest_first(cls, singular_values: np.ndarray, components: np.ndarray, mean: np.ndarray) -> PCAModel:
        """Build from (n,) singular values and (feature_dim, n) axes ordered largest first.

        mean: (feature_dim,) or (1, feature_dim). Stored ascending (SageMaker's order), float32.
        """
        s = np.asarray(singular_values, dtype="float32")[::-1]
        v = np.asarray(components, dtype="float32")
        if v.ndim != 2:
            raise ArtifactError(f"PCA components must be (feature_dim, n_components), got shape {v.shape}")
        return cls(np.ascontiguousarray(s), np.ascontiguousarray(v[:, ::-1]), _row(np.asarray(mean, dtype="float32")))

    @property
    def singular_values(self) -> np.ndarray:
        """(n_components,) largest first."""
        return self.s[::-1]

    @property
    def components(self) -> np.ndarray:
        """(feature_dim, n_components) with column 0 the axis of the largest singular value."""
        return self.v[:, ::-1]

    @property
    def feature_dim(self) -> int:
        return int(self.v.shape[0])

    @property
    def num_components(self) -> int:
        return int(self.s.shape[0])


def read_pca_model(data: bytes) -> PCAModel:
    """The PCA model in a SageMaker artifact."""
    arrays = _load_member(data)
    if not isinstance(arrays, dict) or not {"s", "v"} <= set(arrays):
        found = sorted(arrays) if isinstance(arrays, dict) else f"a list of {len(arrays)} arrays"
        raise ArtifactError(f"{MEMBER} is not a PCA model: expected arrays s, v, mean, found {found}")
    v = arrays["v"]
    mean = arrays.get("mean")
    # subtract_mean=false may leave no mean to subtract: zeros make (x − mean) · v the same formula.
    mean = np.zeros((1, v.shape[0] if v.ndim == 2 else 0), dtype="float32") if mean is None else _row(mean)
    return PCAModel(arrays["s"], v, mean)


def write_pca_model(model: PCAModel) -> bytes:
    """A model.tar.gz as the PCA built-in writes it: dict s, v, mean (float32)."""
    arrays = {"s": model.s, "v": model.v, "mean": model.mean}
    return _archive(mxnet_ndarray.dumps({k: np.asarray(a, dtype="float32") for k, a in arrays.items()}))


def read_kmeans_model(data: bytes) -> np.ndarray:
    """Centroids (k, feature_dim) float32, row i = cluster i."""
    arrays = _load_member(data)
    if not isinstance(arrays, list) or len(arrays) != 1:
        found = f"named arrays {sorted(arrays)}" if isinstance(arrays, dict) else f"{len(arrays)} arrays"
        raise ArtifactError(f"{MEMBER} is not a K-Means model: expected one centroid matrix, found {found}")
    return _checked_centroids(arrays[0])


def write_kmeans_model(centroids: np.ndarray) -> bytes:
    """A model.tar.gz as the K-Means built-in writes it: a list of one (k, feature_dim) float32 array."""
    return _archive(mxnet_ndarray.dumps([_checked_centroids(centroids)]))


def _row(mean: np.ndarray) -> np.ndarray:
    """A (feature_dim,) mean as the (1, feature_dim) row SageMaker stores; other shapes are left for the check."""
    return mean.reshape(1, -1) if mean.ndim == 1 else mean


def _checked_centroids(centroids: np.ndarray) -> np.ndarray:
    centroids = np.asarray(centroids)
    if centroids.ndim != 2 or 0 in centroids.shape:
        raise ArtifactError(f"K-Means centroids must be a (k, feature_dim) matrix, got shape {centroids.shape}")
    return centroids.astype("float32")


def _load_member(data: bytes) -> list[np.ndarray] | dict[str, np.ndarray]:
    try:
        with (
            gzip.GzipFile(fileobj=io.BytesIO(data)) as inflated,
            tarfile.open(fileobj=_Capped(inflated, _MAX_ARCHIVE_BYTES), mode="r:") as archive,
        ):
            members = []
            # Iterating reads one header at a time: each is checked before the next is reached.
            for member in archive:
                members.append(member)
                if len(members) > MAX_ARCHIVE_MEMBERS:
                    raise ArtifactError(
                        f"model.tar.gz holds more than {MAX_ARCHIVE_MEMBERS} members (MAX_ARCHIVE_MEMBERS)"
                    )
                _refuse_unsafe(member)
            found = [m for m in members if m.isfile() and m.name.removeprefix("./") == MEMBER]
            if not found:
                names = ", ".join(_shown(m.name) for m in members) or "nothing"
                raise ArtifactError(f"model.tar.gz has no {MEMBER} at its root (it holds {names})")
            if len(found) > 1:
                raise ArtifactError(f"model.tar.gz holds {MEMBER} {len(found)} times, expected once")
            handle = archive.extractfile(found[0])
            content = handle.read() if handle else b""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:  # OSError covers gzip.BadGzipFile
        raise ArtifactError(f"not a readable model.tar.gz: {exc}") from exc
    try:
        return mxnet_ndarray.loads(content)
    except mxnet_ndarray.NDArrayFormatError as exc:
        raise ArtifactError(f"{MEMBER}: {exc}") from exc


class _Capped:
    """A read-only view of an inflating stream that refuses to be read or skipped past `limit` bytes.

    tarfile reads extended (pax, GNU long name) headers whole, whatever size they declare: this is
    what bounds them, and any other way of reaching deep into a bomb.
    """

    def __init__(self, stream: gzip.GzipFile, limit: int) -> None:
        self._stream, self._limit = stream, limit

    def _refuse_past(self, end: int) -> None:
        if end > self._limit:
            raise ArtifactError(
                f"model.tar.gz expands past {self._limit:,} bytes (MAX_MODEL_BYTES plus headers): "
                f"a read reaching byte {end:,} was refused"
            )

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._limit + 1 - self._stream.tell()  # never inflate more than one byte past the cap
        self._refuse_past(self._stream.tell() + size)
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self._stream.tell() + offset
        if whence not in (io.SEEK_SET, io.SEEK_CUR):
            raise io.UnsupportedOperation("seek from the end of an inflating stream")
        self._refuse_past(target)
        return self._stream.seek(target)

    def tell(self) -> int:
        return self._stream.tell()


def _shown(name: str) -> str:
    """A member name as messages quote it: a long (GNU or pax) name is cut to 100 characters."""
    return name if len(name) <= 100 else name[:100] + "…"


def _refuse_unsafe(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or ".." in name.split("/"):
        raise ArtifactError(f"unsafe member path {_shown(name)!r} in model.tar.gz")
    name = _shown(name)
    if not (member.isfile() or member.isdir()):
        raise ArtifactError(f"member {name!r} in model.tar.gz is a link or device, not a file")
    if member.size > MAX_MODEL_BYTES:
        raise ArtifactError(
            f"member {name!r} in model.tar.gz declares {member.size:,} bytes, above the limit of "
            f"{MAX_MODEL_BYTES:,} bytes (MAX_MODEL_BYTES)"
        )


def _archive(content: bytes) -> bytes:
    """gzip'd tar with `model_algo-1` at its root, mode 0644, owned by root as SageMaker's are."""
    info = tarfile.TarInfo(MEMBER)
    info.size, info.mode, info.uname, info.gname = len(content), 0o644, "root", "root"
    buffer = io.BytesIO()
    # mtime 0 in both the tar and the gzip header: reproducible bytes (see the module docstring).
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
