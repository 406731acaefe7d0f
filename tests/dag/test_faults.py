"""The whole DAG through a fault-injecting proxy: each SageMaker call kind and S3 PUT failing hard (every
time) or transiently (once), and the PUT of latest.json answered with an error every time after it was done
(lost). Hard: the run fails, latest.json stays, nothing of the run is left billing (after the sweeper, when
the delete itself keeps failing). Transient: the run succeeds. Lost: publish reads latest.json back; it names
the run, so the run succeeded. The cases and their
expected outcomes are tests/support/faults.py CASES, which the README's fault table is generated from."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from aws_emulator.connection import airflow_env
from include.segmentation.synthetic import synthetic_census
from include.segmentation_aws.layout import latest_key
from include.segmentation_aws.names import RunNames
from tests.support.faults import CASES, S3_PUT, S3_PUT_LATEST, Case, Fault, FaultProxy, running_proxy
from tests.support.published_files import earlier_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def proxy(emulator) -> Iterator[tuple[FaultProxy, str]]:
    with running_proxy(emulator.endpoint_url) as running:
        yield running


@pytest.fixture
def through_proxy(proxy, aws_env, monkeypatch) -> Iterator[FaultProxy]:
    """The DAG's connection points at the proxy for the test; the S3 client cached per connection is dropped."""
    from include.airflow_popseg import context

    fault_proxy, url = proxy
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", airflow_env(url)["AIRFLOW_CONN_AWS_DEFAULT"])
    context._s3_client.cache_clear()
    yield fault_proxy
    fault_proxy.faults.clear()
    context._s3_client.cache_clear()


def _planned_run(dag) -> tuple[object, str]:
    """A date for dag.test() (logical date and run after) and the run id it gives, so that faults can name the run."""
    from airflow.models.dagrun import DagRun
    from airflow.sdk import timezone
    from airflow.utils.types import DagRunType

    now = timezone.utcnow()
    return now, DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=now, run_after=now)


def _left(sagemaker, token: str) -> list[str]:
    """Names of this run's endpoints, endpoint configs and models that still exist."""
    return [
        *(e["EndpointName"] for e in sagemaker.list_endpoints(NameContains=token)["Endpoints"]),
        *(c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs(NameContains=token)["EndpointConfigs"]),
        *(m["ModelName"] for m in sagemaker.list_models(NameContains=token)["Models"]),
    ]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_fault_fails_the_run_cleanly_or_is_retried(
    case: Case, dag, sweeper_dag, airflow_db, clients, through_proxy, capfd
) -> None:
    s3, sagemaker = clients["s3"], clients["sagemaker"]
    bucket = f"popseg-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=synthetic_census(200).to_csv(index=False).encode())
    earlier = earlier_run(s3, bucket, rows_in=200)
    date, run_id = _planned_run(dag)
    token = RunNames.for_run(run_id).token
    needle = {S3_PUT: f"/{bucket}/segmentation/runs/", S3_PUT_LATEST: f"/{bucket}/{latest_key('segmentation')}"}
    fault = Fault(case.fault_call, case.mode, needle.get(case.call, token))
    through_proxy.faults.append(fault)

    run = dag.test(
        logical_date=date,
        run_after=date,
        run_conf={"bucket": bucket, "input_key": "census/census.csv", "output_prefix": "segmentation", "k": 3},
    )
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}

    assert run.run_id == run_id and fault.hits >= 1, "the fault never fired: it tests nothing"
    latest = s3.get_object(Bucket=bucket, Key=latest_key("segmentation"))["Body"].read()
    if case.mode == "transient":
        assert (run.state, fault.hits) == ("success", 1), states
        assert latest != earlier and json.loads(latest)["run_id"] == run.run_id
    elif case.mode == "lost":  # every answer lost, the write done: publish confirms it by reading it back
        assert run.state == "success", states
        assert json.loads(latest)["run_id"] == run.run_id
    else:
        assert run.state == "failed", states
        assert latest == earlier and states["promote"] != "success"
        teardowns = {states[f"delete_{algorithm}_endpoint"] for algorithm in ("pca", "kmeans")}
        if not case.call.startswith("Delete"):
            assert "failed" not in teardowns, states  # nothing was left, so no teardown may cry wolf
        else:
            left = _left(sagemaker, token)
            assert left, "a delete that always fails leaves its resource"
            printed = "".join(capfd.readouterr())
            assert "TeardownIncomplete" in printed and all(name in printed for name in left)
            through_proxy.faults.clear()
            sweep = {"bucket": bucket, "output_prefix": "segmentation", "ttl_hours": 0, "dry_run": False}
            sweep |= {"keep_succeeded_days": 1, "keep_failed_days": 3}  # dag.test() keeps omitted keys
            assert sweeper_dag.test(run_conf=sweep).state == "success"
    assert _left(sagemaker, token) == []
