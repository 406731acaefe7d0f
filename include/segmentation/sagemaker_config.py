"""Request configs for SageMaker's built-in PCA and K-Means, and names derived from the Airflow run.

Plain dicts in the shape of CreateTrainingJob / CreateModel / CreateEndpointConfig / CreateEndpoint, as
the Amazon provider's operators take them. No Airflow imports: unit-tested on their own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from include.sagemaker_formats.recordio import RECORDIO_CONTENT_TYPE

# Built-in algorithm images: one account per region for both `pca` and `kmeans` (tag 1).
IMAGE_ACCOUNTS: dict[str, str] = {
    "af-south-1": "455444449433", "ap-east-1": "286214385809", "ap-northeast-1": "351501993468",
    "ap-northeast-2": "835164637446", "ap-northeast-3": "867004704886", "ap-south-1": "991648021394",
    "ap-south-2": "628508329040", "ap-southeast-1": "475088953585", "ap-southeast-2": "712309505854",
    "ap-southeast-3": "951798379941", "ap-southeast-4": "106583098589", "ca-central-1": "469771592824",
    "ca-west-1": "190319476487", "cn-north-1": "390948362332", "cn-northwest-1": "387376663083",
    "eu-central-1": "664544806723", "eu-central-2": "680994064768", "eu-north-1": "669576153137",
    "eu-south-1": "257386234256", "eu-south-2": "104374241257", "eu-west-1": "438346466558",
    "eu-west-2": "644912444149", "eu-west-3": "749696950732", "il-central-1": "898809789911",
    "me-central-1": "272398656194", "me-south-1": "249704162688", "sa-east-1": "855470959533",
    "us-east-1": "382416733822", "us-east-2": "404615174143", "us-gov-east-1": "237065988967",
    "us-gov-west-1": "226302683700", "us-iso-east-1": "490574956308", "us-isob-east-1": "765400339828",
    "us-isof-east-1": "108575199400", "us-isof-south-1": "124985052026", "us-west-1": "632365934929",
    "us-west-2": "174872318107",
}  # fmt: skip

_DNS_SUFFIXES = {
    "cn-north-1": "amazonaws.com.cn",
    "cn-northwest-1": "amazonaws.com.cn",
    "us-iso-east-1": "c2s.ic.gov",
    "us-isob-east-1": "sc2s.sgov.gov",
    "us-isof-east-1": "csp.hci.ic.gov",
    "us-isof-south-1": "csp.hci.ic.gov",
}
ALGORITHMS = ("pca", "kmeans")
VARIANT = "AllTraffic"
MAX_NAME = 63


def image_uri(algorithm: str, region: str) -> str:
    """`<account>.dkr.ecr.<region>.<suffix>/<algorithm>:1` for a built-in algorithm."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown built-in algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    if region not in IMAGE_ACCOUNTS:
        raise ValueError(f"SageMaker built-in images are not published for region {region!r}")
    suffix = _DNS_SUFFIXES.get(region, "amazonaws.com")
    return f"{IMAGE_ACCOUNTS[region]}.dkr.ecr.{region}.{suffix}/{algorithm}:1"


@dataclass(frozen=True)
class RunNames:
    """SageMaker names of one Airflow run: valid (≤ 63, `[a-zA-Z0-9](-*[a-zA-Z0-9])*`) and unique per run."""

    token: str  # e.g. "20261123t020000-1a2b3c4d": the run's time and a hash of its run id

    @classmethod
    def for_run(cls, run_id: str) -> RunNames:
        digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
        stamp = re.search(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})", run_id)
        prefix = "".join(stamp.groups()[:3]) + "t" + "".join(stamp.groups()[3:]) if stamp else "run"
        return cls(f"{prefix}-{digest}")

    def training_job(self, algorithm: str) -> str:
        return _name(f"popseg-{algorithm}-{self.token}")

    def endpoint(self, algorithm: str) -> str:
        return _name(f"popseg-{algorithm}-{self.token}")


def _name(candidate: str) -> str:
    name = re.sub(r"[^a-zA-Z0-9-]", "-", candidate)[:MAX_NAME].strip("-")
    return re.sub(r"-{2,}", "-", name)


def training_job_config(
    *,
    name: str,
    algorithm: str,
    region: str,
    role_arn: str,
    train_uri: str,
    output_uri: str,
    hyperparameters: dict[str, object],
    instance_type: str,
    max_runtime_seconds: int = 3600,
    tags: dict[str, str] | None = None,
) -> dict:
    """CreateTrainingJob request for a built-in algorithm reading RecordIO-protobuf from an S3 prefix."""
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image_uri(algorithm, region), "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": {key: _hyperparameter(value) for key, value in hyperparameters.items()},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": train_uri,
                        "S3DataDistributionType": "ShardedByS3Key",
                    }
                },
                "ContentType": RECORDIO_CONTENT_TYPE,
            }
        ],
        "OutputDataConfig": {"S3OutputPath": output_uri},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime_seconds},
        "Tags": _tags(tags),
    }


def pca_hyperparameters(feature_dim: int, num_components: int, rows: int) -> dict[str, object]:
    """The notebook's PCA: regular mode, mean subtracted; mini-batch as the SDK picks it."""
    return {
        "feature_dim": feature_dim,
        "num_components": num_components,
        "mini_batch_size": min(500, max(1, rows)),
        "algorithm_mode": "regular",
        "subtract_mean": True,
    }


def kmeans_hyperparameters(feature_dim: int, k: int, rows: int) -> dict[str, object]:
    return {"feature_dim": feature_dim, "k": k, "mini_batch_size": min(5000, max(1, rows)), "init_method": "kmeans++"}


def endpoint_config(
    *,
    endpoint_name: str,
    training_job_name: str,
    model_data_uri: str,
    algorithm: str,
    region: str,
    role_arn: str,
    instance_type: str,
    tags: dict[str, str] | None = None,
) -> dict:
    """`SageMakerEndpointOperator` config: model (from the job that ran), endpoint config and endpoint.

    The model takes the job's own name and artifact, so a retried job renamed by the operator still
    deploys its own model; config and endpoint take the run's endpoint name.
    """
    return {
        "Model": {
            "ModelName": _name(training_job_name),
            "PrimaryContainer": {"Image": image_uri(algorithm, region), "ModelDataUrl": model_data_uri},
            "ExecutionRoleArn": role_arn,
            "Tags": _tags(tags),
        },
        "EndpointConfig": {
            "EndpointConfigName": endpoint_name,
            "ProductionVariants": [
                {
                    "VariantName": VARIANT,
                    "ModelName": _name(training_job_name),
                    "InitialInstanceCount": 1,
                    "InstanceType": instance_type,
                    "InitialVariantWeight": 1.0,
                }
            ],
            "Tags": _tags(tags),
        },
        "Endpoint": {"EndpointName": endpoint_name, "EndpointConfigName": endpoint_name, "Tags": _tags(tags)},
    }


def _hyperparameter(value: object) -> str:
    """Hyperparameters travel as strings; booleans as the SDK writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _tags(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in (tags or {}).items()]
