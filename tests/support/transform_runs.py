"""The PCA transform and the K-Means assignment, endpoint and batch mode, on a preprocessed census in a moto S3
bucket, and digests of what they write.

The models are made here, not trained (a PCA from the scaled rows' SVD, K-Means centroids from k of the
components), and the endpoints and the batch transform jobs answer with the emulator's own predictors
(aws_emulator.algorithms), so that the tasks' reading, ordering and writing are what is compared.

`transform_golden.json` beside this module holds the digests of the tasks as they were before they streamed
(commit 0079443; the harness of 18151e1) on `GOLDEN_CASES`, for each of OpenBLAS's kernels they were made with
(`blas_kernel`): the models' SVD and the predictors' float32 products round their last bits differently on
each, so a digest holds for one kernel. `python -m tests.support.transform_runs` writes the running kernel's
again from the code checked out (`OPENBLAS_CORETYPE=Haswell` picks that kernel on any x86-64 CPU with AVX2), so
that a change to what the tasks write shows as a diff of that file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from tests.support.preprocess_runs import GOLDEN_CASES as PREPROCESS_CASES
from tests.support.preprocess_runs import frame_digest, run_on, s3_bucket

GOLDEN = Path(__file__).with_name("transform_golden.json")
KEPT = 5  # components kept for K-Means
NUM_COMPONENTS = 8  # components the PCA "trains", of which KEPT are kept

# name -> the preprocess case it starts from (tests.support.preprocess_runs.GOLDEN_CASES)
GOLDEN_CASES = {
    "bundled sample": "bundled sample",
    "bundled sample, three instances": "bundled sample, three instances",
    "synthetic 60,000 rows, 57 incomplete, two instances": "synthetic 60,000 rows, 57 incomplete, two instances",
}


class FakeRuntime:
    """A sagemaker-runtime client whose endpoints answer with the emulator's predictors: name -> predictor."""

    def __init__(self, predictors: dict) -> None:
        self.predictors = predictors

    def invoke_endpoint(self, EndpointName, ContentType, Accept, Body):
        import io

        from include.sagemaker_formats.recordio import decode_features, encode_labels

        answer = self.predictors[EndpointName].predict(decode_features(Body))
        return {"Body": io.BytesIO(encode_labels(answer))}


def _models(run, prepared) -> tuple[bytes, object]:
    """A PCA model.tar.gz from the scaled rows' SVD (NUM_COMPONENTS axes) and its predictor."""
    from aws_emulator.algorithms.pca import PCAAlgorithm
    from include.airflow_popseg import steps
    from include.sagemaker_formats.artifacts import PCAModel, write_pca_model

    x = np.concatenate([block for block, _ in steps.scaled_blocks(run, prepared)]).astype("float64")
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x[:5000] - mean, full_matrices=False)
    model = write_pca_model(PCAModel.from_largest_first(s[:NUM_COMPONENTS], vt[:NUM_COMPONENTS].T, mean))
    return model, PCAAlgorithm().load(model)


def _kmeans(run, components_uri: str, k: int) -> tuple[bytes, object]:
    from aws_emulator.algorithms.kmeans import KMeansAlgorithm
    from include.sagemaker_formats.artifacts import write_kmeans_model

    components = run.store.read_frame(components_uri).to_numpy("float32")
    model = write_kmeans_model(components[:: max(1, len(components) // k)][:k])
    return model, KMeansAlgorithm().load(model)


def _endpoint_plan(name: str, model_uri: str) -> dict:
    return {
        "Model": {"ModelName": f"{name}-model", "PrimaryContainer": {"ModelDataUrl": model_uri}},
        "EndpointConfig": {"EndpointConfigName": f"{name}-config"},
        "Endpoint": {"EndpointName": name, "EndpointConfigName": f"{name}-config"},
    }


def _batch_plan(run, algorithm: str, input_prefix: str, predictor, short_by: int = 0) -> dict:
    """A BatchPlan over `input_prefix`'s shards, and each shard's `.out` written as the job would write it (the
    last `short_by` rows of the last shard left out)."""
    from include.sagemaker_formats.recordio import decode_features, encode_labels

    layout, store = run.layout, run.store
    output = layout.uri(layout.batch_output_prefix(algorithm))
    keys = store.list_keys(input_prefix)
    for key in keys:
        answer = predictor.predict(decode_features(store.read(key)))
        if key == keys[-1] and short_by:
            answer = {label: values[:-short_by] for label, values in answer.items()}
        store.write(f"{output.rstrip('/')}/{key.rsplit('/', 1)[-1]}.out", encode_labels(answer))
    return {
        "Model": {"ModelName": f"{algorithm}-batch-model"},
        "Transform": {
            "TransformJobName": f"{algorithm}-batch",
            "TransformInput": {"DataSource": {"S3DataSource": {"S3Uri": input_prefix}}},
            "TransformOutput": {"S3OutputPath": output},
        },
    }


def _shard_digests(run, prefix: str) -> dict:
    store = run.store
    return {key.rsplit("/", 1)[-1]: hashlib.sha256(store.read(key)).hexdigest() for key in store.list_keys(prefix)}


def transform_digests(case: str, mode: str, short_by: int = 0) -> dict:
    """Preprocess `case`, then the transform and the assignment in `mode` ("endpoint" or "batch"): the digests of
    the components frame, K-Means' training shards and the segments frame (`frame_digest`). `short_by` rows are
    left out of the PCA batch job's last output shard. BLAS runs on one thread, as in the emulator's own process
    (aws_emulator/__main__.py): on more, some kernels (Haswell's) split a large product otherwise and round it
    otherwise, so the digests would depend on the cores a test process is given."""
    import threadpoolctl

    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        return _digests(case, mode, short_by)


def _digests(case: str, mode: str, short_by: int) -> dict:
    from include.airflow_popseg import steps

    make, params = PREPROCESS_CASES[GOLDEN_CASES[case]]
    with s3_bucket() as client:
        run = run_on(client, make(), params)
        prepared = steps.preprocess(run)
        pca_model, pca = _models(run, prepared)
        pca_uri = run.store.write(run.layout.work("pca-model.tar.gz"), pca_model)
        training = {"job_name": "pca-job", "model_artifact": pca_uri}
        chosen = {"kept_components": KEPT, "explained": 0.9, "explained_variance": "unused"}
        run.sagemaker_runtime = lambda: FakeRuntime(predictors)
        predictors = {"pca-endpoint": pca}
        if mode == "endpoint":
            transformed = steps.transform_with_pca(
                run, _endpoint_plan("pca-endpoint", pca_uri), training, chosen, prepared
            )
        else:
            plan = _batch_plan(run, "pca", prepared["train_prefix"], pca, short_by)
            transformed = steps.transform_with_pca_batch(run, plan, training, chosen, prepared)
        kmeans_model, kmeans = _kmeans(run, transformed["components"], params["k"])
        kmeans_uri = run.store.write(run.layout.work("kmeans-model.tar.gz"), kmeans_model)
        predictors["kmeans-endpoint"] = kmeans
        if mode == "endpoint":
            assigned = steps.assign_segments(run, _endpoint_plan("kmeans-endpoint", kmeans_uri), transformed)
        else:
            plan = _batch_plan(run, "kmeans", transformed["train_prefix"], kmeans)
            assigned = steps.assign_segments_batch(run, plan, transformed)
        return {
            "components": frame_digest(run.store.read(transformed["components"])),
            "kmeans shards": _shard_digests(run, transformed["train_prefix"]),
            "segments": frame_digest(run.store.read(assigned["segments"])),
        }


MODES = ("endpoint", "batch")


def blas_kernel() -> str:
    """The kernels numpy's OpenBLAS computes with in this process ("SkylakeX", "Haswell", …: picked from the CPU
    when numpy loads, or by OPENBLAS_CORETYPE), "unknown" without OpenBLAS."""
    import threadpoolctl

    for library in threadpoolctl.threadpool_info():
        if library.get("internal_api") == "openblas":
            return library.get("architecture") or "unknown"
    return "unknown"


def main() -> None:
    golden = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {}
    golden[blas_kernel()] = {case: {mode: transform_digests(case, mode) for mode in MODES} for case in GOLDEN_CASES}
    GOLDEN.write_text(json.dumps(dict(sorted(golden.items())), indent=2) + "\n")


if __name__ == "__main__":
    main()
