"""What SageMaker's errors say: `is_not_found`, the one test of "the resource this call names does not exist".

SageMaker says "not found" in several shapes, and mostly not in the one its service model declares.
botocore's model (sagemaker 2017-07-24) lists `ResourceNotFound` for DescribeTrainingJob, StopTrainingJob and
about 200 other operations, and no error at all for Describe/Delete of models, endpoint configs and
endpoints or for ListTags. What SageMaker answers (aws/aws-sdk#165; the ACK SageMaker controller's
`generator.yaml`, which maps each resource's "not found" to HTTP 404; AWS's own error texts in public logs):

- a training job (Describe, Stop): `ValidationException` "Requested resource not found."
- a transform job (Describe, Stop): `ValidationException` "Could not find requested job with name <name>"
- a model: `ValidationException` `Could not find model "<model ARN>".`
- an endpoint config: `ValidationException` `Could not find endpoint configuration "<config ARN>".`
- an endpoint: `ValidationException` `Could not find endpoint "<endpoint ARN>".`
- a resource named by its ARN (ListTags; model packages and their groups): `ValidationException`
  "… <ARN> does not exist."
- `ResourceNotFound` (any message), as the model declares, for the APIs that do answer it.

Every other ValidationException (a constraint a parameter breaks, "Cannot update in-progress endpoint",
CreateModel's "Could not find model data at <S3 URI>.") is not "not found": the resource may well be there.
The local emulator (aws_emulator/sagemaker/) answers with the same shapes.
"""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

RESOURCE_NOT_FOUND = "ResourceNotFound"  # the model's declared code
VALIDATION = "ValidationException"  # the code SageMaker answers "not found" with for our resources
_NOT_FOUND_MESSAGES = re.compile(
    r"Requested resource not found"  # training jobs
    r"|Could not find requested job with name "  # transform jobs
    r"|Could not find (?:model|endpoint)\b(?! data at )"  # models, endpoints and their configurations
    r"|.*\barn:\S+ does not exist\.?$",  # anything named by its ARN (ListTags)
    re.DOTALL,
)


def is_not_found(error: BaseException) -> bool:
    """True when `error` is SageMaker saying that the resource a call names (or refers to) does not exist."""
    if not isinstance(error, ClientError):
        return False
    details = error.response.get("Error", {})
    code, message = details.get("Code"), details.get("Message") or ""
    if code == RESOURCE_NOT_FOUND:
        return True
    return code == VALIDATION and _NOT_FOUND_MESSAGES.match(message) is not None
