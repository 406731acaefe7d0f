"""A whole DAG run against the emulator where every SageMaker answer fits botocore's output shapes.

The run's tasks (and the provider's deferred triggers, through aiobotocore) read DescribeTrainingJob,
DescribeEndpoint and the others as the service model defines them: a wrong field here fails a test, not a
deployment. Nothing assumes which operations a run makes: whatever the DAG calls is checked, and the hook
must have seen every call the emulator answered."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from aws_emulator.sagemaker.responses import ControlPlane
from aws_emulator.sagemaker.runtime import Runtime
from include.segmentation.synthetic import bundled_sample_csv
from tests.support.response_shapes import ResponseShapes

pytestmark = pytest.mark.slow


@pytest.fixture
def answered(monkeypatch) -> list[tuple[str, str, int]]:
    """(service, operation, HTTP status) of every SageMaker call the emulator answered during the test, as its
    server saw them: the record the client-side hook is compared with."""
    calls: list[tuple[str, str, int]] = []
    handle, invoke = ControlPlane.handle, Runtime.invoke

    def handled(plane, operation, body, region):
        status, document = handle(plane, operation, body, region)
        calls.append(("sagemaker", operation, status))
        return status, document

    def invoked(runtime, name, body, headers, region):
        answer = invoke(runtime, name, body, headers, region)
        calls.append(("sagemaker-runtime", "InvokeEndpoint", answer.status))
        return answer

    monkeypatch.setattr(ControlPlane, "handle", handled)
    monkeypatch.setattr(Runtime, "invoke", invoked)
    return calls


def test_every_sagemaker_answer_of_a_run_on_the_sample_fits_botocores_shapes(dag, airflow_db, clients, answered):
    s3 = clients["s3"]
    bucket = f"popseg-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="census/census.csv", Body=bundled_sample_csv())
    with ResponseShapes() as shapes:
        run = dag.test(run_conf={"bucket": bucket, "input_key": "census/census.csv", "output_prefix": "segmentation"})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == "success", states
    assert answered, "the run made no SageMaker call: nothing was checked"
    # Every call the emulator answered went through the hook (the sync clients' and the triggers' alike) ...
    assert Counter(shapes.calls) == Counter(answered)
    # ... and every answer fits its operation's output shape, parsed and as sent.
    shapes.assert_fit()
