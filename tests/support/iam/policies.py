"""The policy files of iam/, loaded with the values of one deployment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from include.airflow_popseg.settings import TRAINING_MAX_MINUTES
from include.segmentation_aws.images import IMAGE_ACCOUNTS
from tests.support.iam.evaluator import load_policy
from tests.support.paths import PROJECT_ROOT

IAM = PROJECT_ROOT / "iam"
FILES = {
    "airflow": IAM / "airflow-policy.json",
    "execution-role": IAM / "sagemaker-execution-role.json",
    "trust": IAM / "sagemaker-trust-policy.json",
    "view": IAM / "segmentation-view-policy.json",
}

# Sids that allow what the SageMaker service does with the execution role outside anything the
# emulator can record: pulling the built-in images from ECR, and an endpoint container's own logs.
SERVICE_SIDE_SIDS = {
    "execution-role": {"PullBuiltInAlgorithmImages", "GetEcrAuthorizationToken", "WriteEndpointLogs"},
}

# The only statements allowed Resource "*", each because AWS offers no resource-level permission for it.
RESOURCE_STAR = {
    ("execution-role", "GetEcrAuthorizationToken"): {"ecr:GetAuthorizationToken"},
    ("execution-role", "PublishTrainingMetrics"): {"cloudwatch:PutMetricData"},  # scoped by cloudwatch:namespace
    ("airflow", "SweeperListsSageMakerResources"): {
        "sagemaker:ListEndpoints",
        "sagemaker:ListEndpointConfigs",
        "sagemaker:ListModels",
        "sagemaker:ListTrainingJobs",
        "sagemaker:ListTransformJobs",
    },
}


@dataclass(frozen=True)
class Deployment:
    """The values of the placeholders in iam/*.json (see iam/README.md)."""

    Account: str = "123456789012"
    Region: str = "us-east-1"
    Bucket: str = "popseg"
    InputPrefix: str = "census"
    OutputPrefix: str = "segmentation"
    ExecutionRoleName: str = "popseg-sagemaker"
    ImageAccount: str = IMAGE_ACCOUNTS["us-east-1"]
    TrainingMaxSeconds: str = str(TRAINING_MAX_MINUTES * 60)  # the MaxRuntimeInSeconds the DAG asks for
    AlertsTopicArn: str = "arn:aws:sns:us-east-1:123456789012:popseg-alerts"  # the popseg_alerts_sns_topic_arn Variable

    def values(self) -> Mapping[str, str]:
        return asdict(self)


def load(name: str, deployment: Deployment) -> dict:
    return load_policy(FILES[name], deployment.values())
