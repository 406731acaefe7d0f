"""S3 object checksums reported the way S3 reports them, where moto 5.2.5 does not.

S3 keeps one checksum per object (see "Checking object integrity" in the S3 User Guide):

- a single-part object (PutObject, or CopyObject, which writes the copy in one piece) has a
  `FULL_OBJECT` checksum: the algorithm over every byte, e.g. CRC32 `OsYB6Q==`;
- a multipart object has, for CRC32/CRC32C/SHA1/SHA256 unless the upload asked for `FULL_OBJECT`,
  a `COMPOSITE` one: the algorithm over the concatenated part checksums, written `<value>-<parts>`
  (`cFlT2Q==-3`) with `x-amz-checksum-type: COMPOSITE`. botocore does not validate a composite value
  against the body, since it is not a checksum of the bytes.

moto gets GetObject on a multipart object right, and these wrong, each fixed here by wrapping one moto
method (moto itself is neither copied nor edited):

1. CopyObject of a multipart object kept the source's composite value but not its type, so GetObject
   served that value as a full-object checksum and botocore refused the copy's body
   (`FlexibleChecksumError: Expected checksum … did not match calculated checksum …`, issue 12: the
   DAG's publish step copies every result file). The copy now gets the full-object checksum of its bytes.
2. HeadObject with `ChecksumMode=ENABLED` gave a multipart object's composite value without its `-<parts>`
   and no type; it now answers as GetObject does.
3. A checksum the client sends with PutObject or UploadPart was stored unverified (moto: "TODO: AWS
   computes the provided value and verifies it's the same"), so a body damaged on the way in was kept and
   every later download refused. S3 answers `400 BadDigest`; so does this, for the algorithms it can
   compute exactly (moto silently falls back to CRC32 for CRC32C and CRC64NVME without their libraries).
   A checksum given only as a header (`ChecksumCRC32=…`, no `x-amz-sdk-checksum-algorithm`) is now kept
   too. Unlike S3, moto has already stored a refused UploadPart's part; the client's retry replaces it.
4. A single-part object's type was absent; it is `FULL_OBJECT`, which GetObject and HeadObject now say.

Also, a copy of a single-part object takes its source's ETag (the MD5 of the same bytes) rather than
reading the copy back to hash it.

Not changed: GetObject with `PartNumber` returns the whole object (HeadObject's is right), and a
`PartNumber` past the last part is a 500 rather than S3's 416.

`install()` applies the wrappers once per process; it affects every moto S3 backend in the process.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from typing import Any

from moto.s3.exceptions import S3ClientError
from moto.s3.models import FakeKey, S3Backend
from moto.s3.responses import S3Response
from moto.s3.utils import compute_checksum

FULL_OBJECT, COMPOSITE = "FULL_OBJECT", "COMPOSITE"
ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Wrap moto's copy, put, head and checksum-reading methods; idempotent and thread-safe."""
    global _installed
    with _lock:
        if _installed:
            return
        S3Backend.put_object = _put_object(S3Backend.put_object)
        S3Backend.copy_object = _copy_object(S3Backend.copy_object)
        S3Response.head_object = _head_object(S3Response.head_object)
        S3Response._get_checksum = _get_checksum(S3Response._get_checksum)
        _installed = True


def checksum_headers(key: FakeKey) -> dict[str, str]:
    """The `x-amz-checksum-<algorithm>` and `x-amz-checksum-type` headers S3 sends for `key` under
    `ChecksumMode=ENABLED`; {} when it has no checksum."""
    if not key.checksum_algorithm or not key.checksum_value:
        return {}
    kind = key.checksum_type or FULL_OBJECT
    value = f"{key.checksum_value}-{key.checksum_parts}" if kind == COMPOSITE else key.checksum_value
    return {f"x-amz-checksum-{key.checksum_algorithm.lower()}": value, "x-amz-checksum-type": kind}


def verifiable(algorithm: str) -> bool:
    """Whether moto computes `algorithm` exactly here (it substitutes CRC32 when a library is missing)."""
    if algorithm in ("CRC32", "SHA1", "SHA256"):
        return True
    module = {"CRC32C": "crc32c", "CRC64NVME": "awscrt"}.get(algorithm)
    return module is not None and importlib.util.find_spec(module) is not None


def _put_object(original: Any) -> Any:
    @functools.wraps(original)
    def put_object(self: S3Backend, *args: Any, **kwargs: Any) -> FakeKey:
        key = original(self, *args, **kwargs)
        # Every put is one piece; CompleteMultipartUpload sets its own type after this returns.
        key.checksum_type, key.checksum_parts = FULL_OBJECT, None
        return key

    return put_object


def _copy_object(original: Any) -> Any:
    @functools.wraps(original)
    def copy_object(self: S3Backend, src_key: FakeKey, dest_bucket_name: str, dest_key_name: str, *args, **kwargs):
        result = original(self, src_key, dest_bucket_name, dest_key_name, *args, **kwargs)
        copy = self.get_bucket(dest_bucket_name).keys.get(dest_key_name)
        if isinstance(copy, FakeKey) and copy.checksum_algorithm and src_key.checksum_type == COMPOSITE:
            # A composite value describes the source's parts; the copy has none.
            copy.checksum_value = compute_checksum(copy.value, copy.checksum_algorithm).decode()
        if isinstance(copy, FakeKey) and copy._etag is None and src_key._etag and "-" not in src_key._etag:
            copy._etag = src_key._etag  # the MD5 of the same bytes: not read again to compute it
        return result

    return copy_object


def _head_object(original: Any) -> Any:
    @functools.wraps(original)
    def head_object(self: S3Response, bucket_name: str, query: dict[str, Any], key_name: str, headers: Any):
        status, response_headers, body = original(self, bucket_name, query, key_name, headers)
        asked = headers.get("x-amz-checksum-mode") == "ENABLED" and "partNumber" not in query
        if status in (200, 206) and asked:
            key = self.backend.get_object(bucket_name, key_name, version_id=query.get("versionId", [None])[0])
            if isinstance(key, FakeKey) and key.checksum_algorithm:
                response_headers.update(checksum_headers(key))  # replaces moto's bare composite value
        return status, response_headers, body

    return head_object


def _get_checksum(original: Any) -> Any:
    @functools.wraps(original)
    def get_checksum(self: S3Response, response_headers: dict[str, Any]) -> tuple[str, str | None]:
        algorithm, value = original(self, response_headers)
        if not algorithm:
            # A value given as a header alone (`ChecksumCRC32=…`) names its algorithm only in the header's name.
            algorithm, value = next(
                (
                    (name, self.headers[f"x-amz-checksum-{name.lower()}"])
                    for name in ALGORITHMS
                    if f"x-amz-checksum-{name.lower()}" in self.headers
                ),
                ("", None),
            )
            if value:
                response_headers[f"x-amz-checksum-{algorithm.lower()}"] = value
        sent = self.headers.get(f"x-amz-checksum-{algorithm.lower()}") or _trailer_present(self)
        if algorithm and value and sent and verifiable(algorithm):
            body = self.body.encode() if isinstance(self.body, str) else (self.body or b"")
            if compute_checksum(body, algorithm).decode() != value:
                raise S3ClientError(
                    "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
                )
        return algorithm, value

    return get_checksum


def _trailer_present(response: S3Response) -> bool:
    """Whether the client sent its checksum as an aws-chunked trailer (boto3's default for uploads)."""
    return "x-amz-checksum-" in response.headers.get("x-amz-trailer", "")
