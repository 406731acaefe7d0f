"""What a web page the developer has open cannot do to the emulator: the Host allow-list, browser
requests refused, no CORS, no /moto-api, and bodies capped before they are read."""

from __future__ import annotations

import http.client
import json
import socket
from urllib.parse import urlsplit

import boto3
import pytest

from aws_emulator.server import running_emulator
from tests.support.emulator_process import emulator_process


def _call(url: str, method: str, path: str, body: bytes | None = None, **headers: str):
    """One raw HTTP request: (status, body, {lower-case header: value}); `Host` in `headers` replaces the URL's."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.putrequest(method, path, skip_host="Host" in headers, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    return response.status, response.read(), {name.lower(): value for name, value in response.getheaders()}


def _cors(headers: dict[str, str]) -> list[str]:
    return [name for name in headers if name.startswith("access-control-")]


def _buckets(url: str) -> list[str]:
    return [b["Name"] for b in boto3.client("s3", endpoint_url=url, region_name="us-east-1").list_buckets()["Buckets"]]


def test_the_health_check_answers_ok(emulator) -> None:
    status, body, headers = _call(emulator.endpoint_url, "GET", "/_emulator/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("host", ["localhost:4566", "127.0.0.1", "[::1]:4566", "emulator:4566", "LocalHost"])
def test_loopback_names_and_the_compose_service_are_accepted_on_any_port(emulator, host) -> None:
    assert _call(emulator.endpoint_url, "GET", "/_emulator/health", Host=host)[0] == 200


@pytest.mark.parametrize("host", ["attacker.example:4566", "localhost.attacker.example", "127.0.0.1.nip.io", "", "a b"])
def test_any_other_host_is_refused_with_403_and_a_reason(emulator, host) -> None:
    status, body, _ = _call(emulator.endpoint_url, "GET", "/_emulator/health", Host=host)
    assert status == 403
    assert b"is not allowed" in body and b"--allow-host" in body


def test_a_rebound_host_cannot_create_a_bucket(emulator) -> None:
    assert _call(emulator.endpoint_url, "PUT", "/rebinding-victim", b"", Host="attacker.example:4566")[0] == 403
    assert "rebinding-victim" not in _buckets(emulator.endpoint_url)


def test_allow_host_on_the_command_line_adds_a_name() -> None:
    with emulator_process("--allow-host", "popseg.internal") as (process, url):
        assert _call(url, "GET", "/_emulator/health", Host="popseg.internal:4566")[0] == 200
        assert _call(url, "GET", "/_emulator/health", Host="other.internal:4566")[0] == 403
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://attacker.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}],
)
def test_a_request_from_a_web_page_is_refused_and_changes_nothing(emulator, headers) -> None:
    form = b"Action=CreateRole&RoleName=from-a-web-page&AssumeRolePolicyDocument=%7B%7D&Version=2010-05-08"
    status, _, answer_headers = _call(
        emulator.endpoint_url, "POST", "/", form, **{"Content-Type": "application/x-www-form-urlencoded", **headers}
    )
    assert status == 403 and not _cors(answer_headers)
    iam = boto3.client("iam", endpoint_url=emulator.endpoint_url, region_name="us-east-1")
    assert "from-a-web-page" not in [role["RoleName"] for role in iam.list_roles()["Roles"]]


def test_a_cors_preflight_gets_no_access_control_headers(emulator) -> None:
    status, _, headers = _call(
        emulator.endpoint_url,
        "OPTIONS",
        "/popseg-emulator-tests",
        **{"Origin": "https://attacker.example", "Access-Control-Request-Method": "PUT"},
    )
    assert status == 403 and not _cors(headers)


def test_sdk_responses_carry_no_cors_headers(emulator, s3, bucket) -> None:
    assert not _cors(s3.list_objects_v2(Bucket=bucket)["ResponseMetadata"]["HTTPHeaders"])


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/moto-api/reset"), ("GET", "/moto-api/data.json"), ("POST", "/moto-api/recorder/replay-recording")],
)
def test_moto_api_is_not_served_so_a_reset_cannot_wipe_s3(emulator, s3, bucket, method, path) -> None:
    s3.put_object(Bucket=bucket, Key="survives-reset", Body=b"kept")
    assert _call(emulator.endpoint_url, method, path, b"" if method == "POST" else None)[0] == 404
    assert s3.get_object(Bucket=bucket, Key="survives-reset")["Body"].read() == b"kept"


def test_a_body_declared_over_the_cap_is_refused_413_without_being_read(emulator) -> None:
    """3 GiB declared, 3 bytes sent: an answer at all proves the server did not wait for the rest."""
    parts = urlsplit(emulator.endpoint_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(
            b"PUT /popseg-emulator-tests/huge HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3221225472\r\n\r\nabc"
        )
        status_line = connection.makefile("rb").readline()
    assert status_line.split()[1] == b"413"


def _raw_status_and_body(url: str, request: bytes) -> tuple[bytes, bytes]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(request)
        head, _, body = connection.makefile("rb").read().partition(b"\r\n\r\n")
    return head.split()[1], body


@pytest.mark.parametrize(
    "length",
    [b"\xb2", "\u0663".encode(), b"1" * 5000, b"1" * 20],  # ² as latin-1 (the header's charset), Arabic-Indic 3
    ids=["superscript-two", "arabic-indic-three", "5000-digits", "20-digits"],
)
def test_a_content_length_of_other_than_ascii_digits_is_refused_400(emulator, length) -> None:
    status, body = _raw_status_and_body(
        emulator.endpoint_url,
        b"PUT /popseg-emulator-tests/odd-length HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        b"Content-Length: " + length + b"\r\n\r\n",
    )
    assert status == b"400"
    assert b"is not a number of bytes: expected 1 to 19 digits 0-9" in body and len(body) < 200


def test_a_control_plane_body_nested_200000_deep_is_a_serialization_error(emulator) -> None:
    status, body, _ = _call(
        emulator.endpoint_url,
        "POST",
        "/",
        b"[" * 200_000,
        **{"X-Amz-Target": "SageMaker.CreateModel", "Content-Type": "application/x-amz-json-1.1"},
    )
    assert status == 400
    assert json.loads(body)["__type"] == "SerializationException"


def test_an_invocation_declared_over_6_mb_is_refused_in_sagemakers_format_without_being_read(
    emulator, pca_endpoint
) -> None:
    parts = urlsplit(emulator.endpoint_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as connection:
        connection.sendall(
            f"POST /endpoints/{pca_endpoint}/invocations HTTP/1.1\r\nHost: localhost\r\n".encode()
            + b"Content-Type: text/csv\r\nContent-Length: 7000000\r\n\r\n1,2"
        )
        head, _, body = connection.makefile("rb").read().partition(b"\r\n\r\n")
    assert head.split()[1] == b"400" and b"x-amzn-ErrorType: ValidationError" in head
    assert json.loads(body) == {"message": "Request body of 7000000 bytes exceeds the maximum of 6291456 bytes."}


@pytest.fixture(scope="module")
def small_cap():
    """An emulator that reads at most 1 KiB of any body."""
    with running_emulator(max_request_bytes=1024) as emulator:
        yield emulator


def _chunked_put(url: str, key: str, size: int) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    chunks = (b"x" * 256 for _ in range(size // 256))
    connection.request("PUT", f"/chunked-cap/{key}", body=chunks, encode_chunked=True)
    response = connection.getresponse()
    response.read()
    return response.status


def test_a_chunked_body_is_read_through_the_cap(small_cap) -> None:
    s3 = boto3.client("s3", endpoint_url=small_cap.endpoint_url, region_name="us-east-1")
    s3.create_bucket(Bucket="chunked-cap")
    assert _chunked_put(small_cap.endpoint_url, "small", 1024) == 200
    assert s3.get_object(Bucket="chunked-cap", Key="small")["Body"].read() == b"x" * 1024
    assert _chunked_put(small_cap.endpoint_url, "large", 4096) == 413
    assert "large" not in [item["Key"] for item in s3.list_objects_v2(Bucket="chunked-cap").get("Contents", [])]


def test_a_refusal_logs_the_requested_path_on_one_line(caplog) -> None:
    from aws_emulator.server import _refuse

    _refuse({"REQUEST_METHOD": "GET", "PATH_INFO": "/bucket/key\nINFO forged line"}, 403, "no")
    refused = [record.getMessage() for record in caplog.records if record.getMessage().startswith("refused")]
    assert refused == ["refused GET /bucket/key\\nINFO forged line -> 403: no"]
