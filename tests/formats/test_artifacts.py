"""SageMaker model.tar.gz artifacts of PCA and K-Means, against the golden models."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import numpy as np
import pytest

from devtools.hostile_inputs import pax_archive, raw_archive
from include.sagemaker_formats import artifacts
from include.sagemaker_formats.artifacts import (
    MAX_ARCHIVE_MEMBERS,
    MAX_EXTENDED_HEADER_BYTES,
    MAX_EXTENDED_HEADERS,
    MEMBER,
    ArtifactError,
    PCAModel,
    read_kmeans_model,
    read_pca_model,
    write_kmeans_model,
    write_pca_model,
)
from include.sagemaker_formats.mxnet_ndarray import dumps
from tests.support.paths import shared_path


def _golden(name: str) -> bytes:
    return shared_path(f"fixtures/mxnet/{name}").read_bytes()


def _member(archive: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return tar.extractfile(MEMBER).read()


def _tar(members: dict[str, bytes], kind: bytes = tarfile.REGTYPE) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.type = len(content), kind
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def census_pca() -> PCAModel:
    return read_pca_model(_golden("pca_census_model.tar.gz"))


def test_pca_artifact_is_read_as_stored(census_pca) -> None:
    expected = json.loads(shared_path("fixtures/mxnet/expected.json").read_text())["pca_census_model_algo-1"]
    assert census_pca.s.shape == (33,) and census_pca.v.shape == (34, 33) and census_pca.mean.shape == (1, 34)
    assert np.array_equal(census_pca.s, np.array(expected["arrays"]["s"]["values"], dtype="float32"))
    assert census_pca.feature_dim == 34 and census_pca.num_components == 33


def test_pca_components_are_exposed_largest_first(census_pca) -> None:
    assert np.allclose(census_pca.singular_values[:7], [19.59, 13.04, 11.72, 10.18, 7.99, 7.70, 6.39], atol=0.01)
    assert np.array_equal(census_pca.components[:, 0], census_pca.v[:, -1])
    assert np.all(np.diff(census_pca.s) >= 0)


def test_written_pca_artifact_holds_the_golden_member_bytes(census_pca) -> None:
    assert _member(write_pca_model(census_pca)) == _golden("pca_census_model_algo-1")


def test_written_kmeans_artifact_holds_the_golden_member_bytes() -> None:
    centroids = read_kmeans_model(_golden("kmeans_k8_model.tar.gz"))
    assert centroids.shape == (8, 7) and centroids.dtype == np.float32
    assert _member(write_kmeans_model(centroids)) == _golden("kmeans_k8_model_algo-1")


def test_written_archive_has_one_root_member_like_sagemakers(census_pca) -> None:
    with tarfile.open(fileobj=io.BytesIO(write_pca_model(census_pca)), mode="r:gz") as tar:
        (member,) = tar.getmembers()
    with tarfile.open(fileobj=io.BytesIO(_golden("pca_census_model.tar.gz")), mode="r:gz") as tar:
        (golden,) = tar.getmembers()
    assert (member.name, member.mode, member.uname) == (golden.name, golden.mode, golden.uname)


def test_from_largest_first_stores_ascending_and_round_trips() -> None:
    model = PCAModel.from_largest_first(
        np.array([3.0, 2.0]), np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), np.zeros(3)
    )
    assert model.s.tolist() == [2.0, 3.0]
    assert model.components[:, 0].tolist() == [1.0, 0.0, 0.0]
    again = read_pca_model(write_pca_model(model))
    assert np.array_equal(again.v, model.v) and np.array_equal(again.mean, model.mean)


def test_pca_without_mean_reads_as_zero_mean() -> None:
    archive = _tar({MEMBER: dumps({"s": np.ones(2, dtype="float32"), "v": np.ones((3, 2), dtype="float32")})})
    assert np.array_equal(read_pca_model(archive).mean, np.zeros((1, 3), dtype="float32"))


def test_pca_shapes_that_disagree_are_refused() -> None:
    arrays = {
        "s": np.ones(2, dtype="float32"),
        "v": np.ones((3, 4), dtype="float32"),
        "mean": np.ones((1, 3), dtype="float32"),
    }
    with pytest.raises(ArtifactError, match="shapes disagree"):
        read_pca_model(_tar({MEMBER: dumps(arrays)}))
    arrays["v"] = np.ones((3, 2), dtype="float32")
    arrays["mean"] = np.ones((1, 5), dtype="float32")
    with pytest.raises(ArtifactError, match=r"mean has shape \(1, 5\), expected \(1, 3\)"):
        read_pca_model(_tar({MEMBER: dumps(arrays)}))


def test_a_kmeans_artifact_is_not_read_as_pca_and_vice_versa() -> None:
    with pytest.raises(ArtifactError, match="not a PCA model"):
        read_pca_model(_golden("kmeans_k8_model.tar.gz"))
    with pytest.raises(ArtifactError, match="not a K-Means model"):
        read_kmeans_model(_golden("pca_census_model.tar.gz"))


def test_centroids_must_be_a_matrix() -> None:
    with pytest.raises(ArtifactError, match=r"\(k, feature_dim\)"):
        write_kmeans_model(np.ones(3))


def test_missing_member_is_refused_naming_what_is_there() -> None:
    with pytest.raises(ArtifactError, match="no model_algo-1 at its root \\(it holds other\\)"):
        read_kmeans_model(_tar({"other": b"x"}))


@pytest.mark.parametrize("name", ["/etc/model_algo-1", "../model_algo-1", "a/../../x"])
def test_unsafe_member_paths_are_refused(name) -> None:
    with pytest.raises(ArtifactError, match="unsafe member path"):
        read_kmeans_model(_tar({name: b"x"}))


def test_links_are_refused() -> None:
    with pytest.raises(ArtifactError, match="link or device"):
        read_kmeans_model(_tar({MEMBER: b""}, kind=tarfile.SYMTYPE))


def test_not_a_gzip_archive_is_refused() -> None:
    with pytest.raises(ArtifactError, match=r"not a readable model\.tar\.gz"):
        read_kmeans_model(b"PK\x03\x04 a zip file")


def test_corrupt_member_is_refused_with_the_member_named() -> None:
    with pytest.raises(ArtifactError, match="model_algo-1: not an MXNet NDArray file"):
        read_kmeans_model(_tar({MEMBER: b"garbage" * 4}))


def _kmeans_bytes() -> bytes:
    return dumps([np.ones((2, 3), dtype="float32")])


def test_kmeans_artifact_reads_the_golden_centroids() -> None:
    expected = json.loads(shared_path("fixtures/mxnet/expected.json").read_text())["kmeans_k8_model_algo-1"]
    (want,) = expected["arrays"]
    centroids = read_kmeans_model(_golden("kmeans_k8_model.tar.gz"))
    assert np.array_equal(centroids, np.array(want["values"], dtype="float32"))


def test_written_artifacts_are_reproducible(census_pca) -> None:
    assert write_pca_model(census_pca) == write_pca_model(census_pca)


def test_pca_model_stores_float32() -> None:
    model = PCAModel.from_largest_first(np.array([2.0, 1.0]), np.eye(3)[:, :2], np.zeros(3))
    assert model.s.dtype == model.v.dtype == model.mean.dtype == np.float32


def test_pca_s_length_must_match_v_columns() -> None:
    with pytest.raises(ArtifactError, match=r"PCA shapes disagree: s \(2,\), v \(3, 4\)"):
        PCAModel(np.ones(2), np.ones((3, 4)), np.ones((1, 3)))


def test_pca_mean_of_another_shape_is_not_reshaped_to_fit() -> None:
    arrays = {"s": np.ones(2, dtype="float32"), "v": np.ones((4, 2), dtype="float32"), "mean": np.ones((2, 2))}
    with pytest.raises(ArtifactError, match=r"mean has shape \(2, 2\), expected \(1, 4\)"):
        read_pca_model(_tar({MEMBER: dumps(arrays)}))


def test_member_under_dot_slash_is_at_the_root() -> None:
    assert read_kmeans_model(_tar({"./" + MEMBER: _kmeans_bytes()})).shape == (2, 3)


def test_member_in_a_subfolder_is_not_at_the_root() -> None:
    with pytest.raises(ArtifactError, match="no model_algo-1 at its root"):
        read_kmeans_model(_tar({"output/" + MEMBER: _kmeans_bytes()}))


def test_directory_named_like_the_member_is_not_the_model() -> None:
    with pytest.raises(ArtifactError, match="no model_algo-1 at its root"):
        read_kmeans_model(_tar({MEMBER: b""}, kind=tarfile.DIRTYPE))


def test_member_present_twice_is_refused() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for _ in range(2):
            info = tarfile.TarInfo(MEMBER)
            info.size = len(_kmeans_bytes())
            tar.addfile(info, io.BytesIO(_kmeans_bytes()))
    with pytest.raises(ArtifactError, match="holds model_algo-1 2 times, expected once"):
        read_kmeans_model(buffer.getvalue())


@pytest.mark.parametrize("kind", [tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_hard_links_and_devices_are_refused(kind) -> None:
    with pytest.raises(ArtifactError, match="link or device"):
        read_kmeans_model(_tar({MEMBER: b""}, kind=kind))


def test_truncated_archive_is_refused() -> None:
    golden = _golden("kmeans_k8_model.tar.gz")
    with pytest.raises(ArtifactError, match=r"not a readable model\.tar\.gz"):
        read_kmeans_model(golden[: len(golden) // 2])


def test_corrupt_compressed_stream_is_refused() -> None:
    golden = bytearray(_golden("kmeans_k8_model.tar.gz"))
    golden[40:60] = bytes(20)
    with pytest.raises(ArtifactError, match=r"not a readable model\.tar\.gz"):
        read_kmeans_model(bytes(golden))


def test_kmeans_centroids_that_are_not_a_matrix_are_refused_on_read() -> None:
    with pytest.raises(ArtifactError, match=r"centroids must be a \(k, feature_dim\) matrix, got shape \(2, 3, 1\)"):
        read_kmeans_model(_tar({MEMBER: dumps([np.ones((2, 3, 1), dtype="float32")])}))


def test_archive_of_the_member_limit_is_read_and_one_more_is_refused() -> None:
    others = {f"notes{i}.txt": b"x" for i in range(MAX_ARCHIVE_MEMBERS - 1)}
    assert read_kmeans_model(_tar({MEMBER: _kmeans_bytes(), **others})).shape == (2, 3)
    with pytest.raises(ArtifactError, match=r"more than 16 members \(MAX_ARCHIVE_MEMBERS\)"):
        read_kmeans_model(_tar({MEMBER: _kmeans_bytes(), **others, "one-more": b"x"}))


def test_member_declaring_more_than_the_limit_is_refused_before_it_is_read(monkeypatch) -> None:
    content = _kmeans_bytes()
    monkeypatch.setattr(artifacts, "MAX_MODEL_BYTES", len(content))
    assert read_kmeans_model(_tar({MEMBER: content})).shape == (2, 3)
    with pytest.raises(ArtifactError, match=rf"declares {len(content) + 4} bytes, above the limit of {len(content)}"):
        read_kmeans_model(_tar({MEMBER: content + bytes(4)}))


def test_archive_inflating_past_its_limit_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(artifacts, "_MAX_ARCHIVE_BYTES", 4096)
    with pytest.raises(ArtifactError, match="model.tar.gz expands past 4,096 bytes"):
        read_kmeans_model(_tar({"big.txt": bytes(8192), MEMBER: _kmeans_bytes()}))


def test_a_long_member_name_is_cut_in_the_message() -> None:
    with pytest.raises(ArtifactError, match=r"no model_algo-1 at its root \(it holds a{100}…\)$"):
        read_kmeans_model(_tar({"a" * 1000: b"x"}))


def _pax_record(keyword: bytes, value: bytes) -> bytes:
    """One `<length> <keyword>=<value>\\n` record, its length counting its own digits."""
    body = b" " + keyword + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def test_pax_header_above_the_limit_is_refused_naming_it_and_the_limit() -> None:
    records = _pax_record(b"comment", b"x" * MAX_EXTENDED_HEADER_BYTES)
    with pytest.raises(ArtifactError, match=r"pax extended header at byte 0 .* above the limit of 4,096 \(MAX_EXT"):
        read_kmeans_model(pax_archive(records, _kmeans_bytes()))


def test_pax_header_at_the_limit_is_read() -> None:
    records = _pax_record(b"comment", b"x" * (MAX_EXTENDED_HEADER_BYTES - len(b"4096 comment=\n")))
    assert len(records) == MAX_EXTENDED_HEADER_BYTES
    assert read_kmeans_model(pax_archive(records, _kmeans_bytes())).shape == (2, 3)


@pytest.mark.parametrize(
    "records, where",
    [
        (b"2 2 2 2 2 2=\n", 0),  # the quadratic attack's shape, small: a record of length 2 holds no '='
        (_pax_record(b"path", b"model_algo-1") + b"99 comment=short\n", 21),  # runs past the header
        (_pax_record(b"path", b"model_algo-1")[:-1] + b"x", 0),  # does not end with a newline
        (b"7" * 300, 0),  # digits, no record
        (b"07 a=b\n", 0),  # a length with a leading zero
    ],
    ids=["twos", "past-the-end", "no-newline", "digits", "leading-zero"],
)
def test_pax_header_of_malformed_records_is_refused_naming_where(records, where) -> None:
    with pytest.raises(ArtifactError, match=rf"pax extended header at byte 0 .* malformed record at its byte {where}:"):
        read_kmeans_model(pax_archive(records, _kmeans_bytes()))


@pytest.mark.parametrize("keyword", [b"size", b"GNU.sparse.map", b"GNU.sparse.major"])
def test_pax_keywords_that_move_data_are_refused(keyword) -> None:
    with pytest.raises(ArtifactError, match=rf"sets '{keyword.decode()}', which is not read"):
        read_kmeans_model(pax_archive(_pax_record(keyword, b"4"), _kmeans_bytes()))


def test_member_named_by_a_pax_path_is_read() -> None:
    archive = raw_archive(
        (b"././@PaxHeader", tarfile.XHDTYPE, _pax_record(b"path", MEMBER.encode())),
        (b"renamed", tarfile.REGTYPE, _kmeans_bytes()),
    )
    assert read_kmeans_model(archive).shape == (2, 3)


def test_gnu_long_name_is_read_and_one_above_the_limit_is_refused() -> None:
    long_name = b"./" + b"d/" * 100 + b"notes.txt\0"
    archive = raw_archive(
        (b"././@LongLink", tarfile.GNUTYPE_LONGNAME, long_name),
        (b"notes", tarfile.REGTYPE, b"x"),
        (MEMBER.encode(), tarfile.REGTYPE, _kmeans_bytes()),
    )
    assert read_kmeans_model(archive).shape == (2, 3)
    too_long = b"a" * MAX_EXTENDED_HEADER_BYTES + b"\0"
    archive = raw_archive((b"././@LongLink", tarfile.GNUTYPE_LONGNAME, too_long), (b"notes", tarfile.REGTYPE, b"x"))
    with pytest.raises(ArtifactError, match=r"GNU long-name header at byte 0 .* declares 4,097 bytes"):
        read_kmeans_model(archive)


def test_extended_headers_chained_past_the_limit_are_refused() -> None:
    headers = [(b"././@PaxHeader", tarfile.XHDTYPE, _pax_record(b"comment", b"x"))] * (MAX_EXTENDED_HEADERS + 1)
    with pytest.raises(ArtifactError, match=r"more than 3 extended headers before one member, at byte 3,072"):
        read_kmeans_model(raw_archive(*headers, (MEMBER.encode(), tarfile.REGTYPE, _kmeans_bytes())))


@pytest.mark.parametrize("kind", [tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE, tarfile.GNUTYPE_LONGLINK, b"V"])
def test_member_types_that_are_not_read_are_refused_naming_the_type(kind) -> None:
    with pytest.raises(ArtifactError, match=rf"has tar type {kind!r}: only files, folders"):
        read_kmeans_model(raw_archive((b"notes", kind, b"x"), (MEMBER.encode(), tarfile.REGTYPE, _kmeans_bytes())))


def test_header_with_a_bad_checksum_is_refused_naming_its_byte() -> None:
    archive = bytearray(gzip.decompress(_tar({"notes": b"x", MEMBER: _kmeans_bytes()})))
    archive[1024 + 10] ^= 1  # the second header's name
    with pytest.raises(ArtifactError, match=r"tar header at byte 1,024 has a bad checksum"):
        read_kmeans_model(gzip.compress(bytes(archive)))


def test_size_that_is_not_octal_is_refused() -> None:
    archive = bytearray(gzip.decompress(_tar({MEMBER: _kmeans_bytes()})))
    archive[124:136] = b"\x80" + (1 << 40).to_bytes(11, "big")  # base-256, as GNU tar writes > 8 GiB
    archive[148:156] = b"%06o\0 " % (sum(archive[:148]) + 256 + sum(archive[156:512]))
    with pytest.raises(ArtifactError, match=r"tar header at byte 0 of model.tar.gz has a size field that is not octal"):
        read_kmeans_model(gzip.compress(bytes(archive)))
