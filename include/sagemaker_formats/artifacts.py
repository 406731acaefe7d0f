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

`tarfile` is only handed an archive whose headers were vetted first, by a pass of our own over the
inflated stream (`_vet_headers`): every 512-byte header's checksum and octal size, its type (files,
folders, and the pax and GNU long-name headers that may precede them; no links, devices or sparse
files), and each extended header's size (at most MAX_EXTENDED_HEADER_BYTES) and records (`<length>
<keyword>=<value>\n`, covering it exactly). Python before 3.11.10 (CVE-2024-6232 and its kin) parses
pax headers in time and memory quadratic in their size: a 360-byte archive took 6 GiB and 19 s.
"""

from __future__ import annotations

import gzip
import io
import re
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
# Bytes of one pax or GNU long-name header: a path of Linux's PATH_MAX (4,096) with its record. Python's
# tarfile before 3.11.10 parses pax headers in quadratic time; at this size the worst costs ~20 ms.
MAX_EXTENDED_HEADER_BYTES = 4096
# Extended headers before one member: a global pax header, a pax header and a GNU long name.
MAX_EXTENDED_HEADERS = 3


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
        # Two passes over the inflated stream: our own over its headers, then tarfile's over vetted ones.
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as inflated:
            _vet_headers(_Capped(inflated, _MAX_ARCHIVE_BYTES))
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


_BLOCK = tarfile.BLOCKSIZE
_FILE, _FOLDER = (tarfile.REGTYPE, tarfile.AREGTYPE), tarfile.DIRTYPE
_PAX, _GLOBAL_PAX, _LONG_NAME = tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME
_LINKS_AND_DEVICES = (tarfile.LNKTYPE, tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE)
_OCTAL = re.compile(rb"[0-7]*")
_PAX_RECORD_LENGTH = re.compile(rb"[1-9][0-9]{0,5} ")
# Pax keywords refused: `size` would move the next header where tarfile, not we, would look for it;
# GNU.sparse.* asks for sparse files, which tarfile rebuilds from maps the archive supplies.
_REFUSED_PAX_KEYWORDS = re.compile(rb"size|GNU\.sparse\..*")


def _vet_headers(stream: _Capped) -> None:
    """Walk the tar's 512-byte headers as tarfile would, skipping member data, and refuse what is unsafe.

    Stops at the first zero block (the end of the archive, where tarfile stops) or at the end of the stream.
    """
    members, extended, name = 0, 0, ""
    while True:
        offset = stream.tell()
        block = stream.read(_BLOCK)
        if not block or block == bytes(_BLOCK):
            return
        if len(block) < _BLOCK:
            raise ArtifactError(f"model.tar.gz ends inside the tar header at byte {offset:,}")
        _check_header_checksum(block, offset)
        kind = block[156:157]
        size = _header_size(block, offset)
        if kind in (_PAX, _GLOBAL_PAX, _LONG_NAME):
            what = "GNU long-name" if kind == _LONG_NAME else "pax extended"
            extended += 1
            if extended > MAX_EXTENDED_HEADERS:
                raise ArtifactError(
                    f"model.tar.gz chains more than {MAX_EXTENDED_HEADERS} extended headers before one member, "
                    f"at byte {offset:,} (MAX_EXTENDED_HEADERS)"
                )
            if size > MAX_EXTENDED_HEADER_BYTES:
                raise ArtifactError(
                    f"the {what} header at byte {offset:,} of model.tar.gz declares {size:,} bytes, above the "
                    f"limit of {MAX_EXTENDED_HEADER_BYTES:,} (MAX_EXTENDED_HEADER_BYTES)"
                )
            content = stream.read(size)
            if len(content) < size:
                raise ArtifactError(f"model.tar.gz ends inside the {what} header at byte {offset:,}")
            stream.seek(-size % _BLOCK, io.SEEK_CUR)
            if kind == _LONG_NAME:
                name = content.split(b"\0", 1)[0].decode("utf-8", "replace")
            else:
                name = _vet_pax_records(content, offset) or name
            continue
        members += 1
        name = name or _header_name(block)
        if members > MAX_ARCHIVE_MEMBERS:
            raise ArtifactError(f"model.tar.gz holds more than {MAX_ARCHIVE_MEMBERS} members (MAX_ARCHIVE_MEMBERS)")
        if kind in _LINKS_AND_DEVICES:
            raise ArtifactError(f"member {_shown(name)!r} in model.tar.gz is a link or device, not a file")
        if kind not in (*_FILE, _FOLDER):
            raise ArtifactError(
                f"member {_shown(name)!r} at byte {offset:,} of model.tar.gz has tar type {kind!r}: only files, "
                "folders and pax or GNU long-name headers are read"
            )
        if kind in _FILE:
            if size > MAX_MODEL_BYTES:
                raise ArtifactError(
                    f"member {_shown(name)!r} in model.tar.gz declares {size:,} bytes, above the limit of "
                    f"{MAX_MODEL_BYTES:,} bytes (MAX_MODEL_BYTES)"
                )
            stream.seek(size + -size % _BLOCK, io.SEEK_CUR)  # tarfile skips a folder's size: so do we
        extended, name = 0, ""


def _check_header_checksum(block: bytes, offset: int) -> None:
    """The checksum tarfile accepts: the sum of the header's bytes, its own field counted as spaces,
    as unsigned or (as some old tars wrote it) signed bytes."""
    field = block[148:156].split(b"\0", 1)[0].strip()
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    signed = unsigned - 256 * sum(1 for byte in block[:148] + block[156:] if byte > 127)
    if not (field and _OCTAL.fullmatch(field) and int(field, 8) in (unsigned, signed)):
        raise ArtifactError(f"not a readable model.tar.gz: the tar header at byte {offset:,} has a bad checksum")


def _header_size(block: bytes, offset: int) -> int:
    field = block[124:136].split(b"\0", 1)[0].strip()
    if not _OCTAL.fullmatch(field):  # base-256 sizes, for members above 8 GiB, are refused too
        raise ArtifactError(f"the tar header at byte {offset:,} of model.tar.gz has a size field that is not octal")
    return int(field or b"0", 8)


def _header_name(block: bytes) -> str:
    """The ustar name (prefix/name): for messages only; tarfile's reading of it is the one used."""
    name = block[:100].split(b"\0", 1)[0]
    prefix = block[345:500].split(b"\0", 1)[0] if block[257:262] == b"ustar" else b""
    return (prefix + b"/" + name if prefix else name).decode("utf-8", "replace")


def _vet_pax_records(content: bytes, offset: int) -> str:
    """Refuse a pax header that is not a sequence of `<length> <keyword>=<value>\\n` records covering it
    exactly, or that sets a refused keyword; its `path` (or "")."""
    position, path = 0, ""
    where = f"the pax extended header at byte {offset:,} of model.tar.gz"
    while position < len(content):
        prefix = _PAX_RECORD_LENGTH.match(content, position)
        length = int(prefix.group()) if prefix else 0
        record = content[position : position + length]
        keyword, equals, value = record[prefix.end() - position if prefix else 0 :].partition(b"=")
        if not prefix or len(record) < length or not record.endswith(b"\n") or not equals or not keyword:
            raise ArtifactError(
                f"{where} has a malformed record at its byte {position}: expected '<length> <keyword>=<value>\\n'"
            )
        if _REFUSED_PAX_KEYWORDS.fullmatch(keyword):
            raise ArtifactError(f"{where} sets {keyword.decode('ascii', 'replace')!r}, which is not read")
        if keyword == b"path":
            path = value[:-1].decode("utf-8", "replace")
        position += length
    return path


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
