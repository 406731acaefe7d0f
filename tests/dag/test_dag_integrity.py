"""The DAG as a data engineer relies on it: parses offline, refuses bad params, wires cleanup right."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys

import pytest

from tests.support.paths import PROJECT_ROOT

PIPELINE = [
    "check_params",
    "wait_for_census",
    "compare_with_last_run",
    "retrain_or_skip",
    "record_unchanged",
    "preprocess",
    "pca_training_config",
    "train_pca",
    "choose_components",
    "pca_transform_path",
    "plan_pca_endpoint",
    "deploy_pca",
    "transform_with_pca",
    "delete_pca_endpoint",
    "plan_pca_batch",
    "batch_pca",
    "read_pca_batch",
    "delete_pca_model",
    "projected",
    "kmeans_training_configs",
    "train_kmeans",
    "choose_k",
    "kmeans_transform_path",
    "plan_kmeans_endpoint",
    "deploy_kmeans",
    "assign_segments",
    "delete_kmeans_endpoint",
    "plan_kmeans_batch",
    "batch_kmeans",
    "read_kmeans_batch",
    "delete_kmeans_model",
    "assigned_segments",
    "match_segments",
    "extract_attributes",
    "document_run",
    "build_report",
    "publish",
    "promote",
]


def test_parsing_makes_no_aws_call(monkeypatch) -> None:
    import botocore.client
    from airflow.dag_processing.dagbag import DagBag

    def refuse(*args, **kwargs):
        raise AssertionError(f"AWS call at parse time: {args[1] if len(args) > 1 else args}")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", refuse)
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors
    assert {"population_segmentation", "popseg_sweeper"} <= set(bag.dags)


# Imported by a task when it runs, never by the DAG processor's parse (Airflow's top-level-code rule).
HEAVY_MODULES = ("numpy", "pandas", "matplotlib", "pyarrow", "sklearn", "include.segmentation.report")


def test_parsing_imports_nothing_heavy() -> None:
    """jinja2 is not checked: Airflow itself imports it; our report template is (include.segmentation.report)."""
    script = (
        "import sys; from airflow.dag_processing.dagbag import DagBag; "
        f"bag = DagBag(dag_folder={str(PROJECT_ROOT / 'dags')!r}); assert not bag.import_errors, bag.import_errors; "
        f"print([m for m in {HEAVY_MODULES!r} if m in sys.modules])"
    )
    parsed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert parsed.stdout.strip().splitlines()[-1] == "[]", parsed.stdout + parsed.stderr


def test_the_steps_every_task_imports_leave_plotting_to_build_report() -> None:
    """matplotlib costs every task ≈ 1 s of start-up (python -X importtime); only build_report draws."""
    script = (
        "import sys; import include.airflow_popseg.steps; "
        "print([m for m in ('matplotlib', 'include.segmentation.report') if m in sys.modules])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert loaded.returncode == 0 and loaded.stdout.strip().splitlines()[-1] == "[]", loaded.stdout + loaded.stderr


@pytest.mark.parametrize(("value", "accepted"), [("8", True), ("0", False), ("65", False)])
def test_invoke_concurrency_outside_1_to_64_is_refused_when_the_settings_load(value, accepted) -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "from include.airflow_popseg import settings; print(settings.INVOKE_CONCURRENCY)"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "AIRFLOW__POPSEG__INVOKE_CONCURRENCY": value},
    )
    if accepted:
        assert loaded.returncode == 0 and loaded.stdout.strip() == value, loaded.stderr
    else:
        assert loaded.returncode != 0 and "invoke_concurrency" in loaded.stderr and "must be 1 to 64" in loaded.stderr


def test_a_fractional_check_interval_polls_that_often_with_a_whole_number_of_attempts() -> None:
    """`make run` polls the emulator every 0.5 s; the training operator's attempts still cover 120 minutes."""
    script = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(PROJECT_ROOT / 'dags')!r})\n"
        "train = bag.dags['population_segmentation'].get_task('train_pca')\n"
        "print(train.check_interval, train.max_attempts)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "AIRFLOW__POPSEG__CHECK_INTERVAL": "0.5"},
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[-2:] == ["0.5", str(120 * 60 * 2)]


def test_training_and_deploy_retry_after_seconds_and_the_others_keep_the_backoff() -> None:
    """A retried train_* or deploy_* task reattaches (a Describe call): a deferral race costs seconds."""
    script = (
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(PROJECT_ROOT / 'dags')!r})\n"
        "dag = bag.dags['population_segmentation']\n"
        "for task in dag.tasks:\n"
        "    print(task.task_id, task.retries, task.retry_delay.total_seconds(), task.retry_exponential_backoff)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__POPSEG__")}
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**env, "PYTHONPATH": str(PROJECT_ROOT)}
    )
    assert loaded.returncode == 0, loaded.stderr
    delays = {line.split()[0]: float(line.split()[2]) for line in loaded.stdout.splitlines() if line.count(" ") == 3}
    reattaching = {"train_pca", "train_kmeans", "deploy_pca", "deploy_kmeans", "batch_pca", "batch_kmeans"}
    assert {task: delays[task] for task in reattaching} == dict.fromkeys(reattaching, 5.0)
    assert {delays[task] for task in delays.keys() - reattaching} == {60.0}


def test_every_step_of_the_pipeline_is_a_task(dag) -> None:
    assert sorted(dag.task_ids) == sorted(PIPELINE)


def test_the_graph_groups_the_stages_without_renaming_tasks(dag) -> None:
    groups = {group_id: set(group.children) for group_id, group in dag.task_group.get_task_group_dict().items()}
    assert groups["PCA"] == {
        "pca_training_config", "train_pca", "choose_components", "pca_transform_path",
        "plan_pca_endpoint", "deploy_pca", "transform_with_pca", "delete_pca_endpoint",
        "plan_pca_batch", "batch_pca", "read_pca_batch", "delete_pca_model", "projected",
    }  # fmt: skip
    assert groups["K-Means"] == {
        "kmeans_training_configs", "train_kmeans", "choose_k", "kmeans_transform_path",
        "plan_kmeans_endpoint", "deploy_kmeans", "assign_segments", "delete_kmeans_endpoint",
        "plan_kmeans_batch", "batch_kmeans", "read_kmeans_batch", "delete_kmeans_model", "assigned_segments",
    }  # fmt: skip
    assert groups["Results"] == {
        "match_segments", "extract_attributes", "document_run", "build_report", "publish", "promote",
    }  # fmt: skip


def test_nightly_at_two_utc_without_catchup_one_run_at_a_time(dag) -> None:
    assert dag.timetable.expression == "0 2 * * *"
    assert str(dag.timetable.timezone) in ("UTC", "Timezone('UTC')")
    assert dag.catchup is False
    assert dag.max_active_runs == 1


def _upstream(dag, task_id: str) -> set[str]:
    return set(dag.get_task(task_id).upstream_task_ids)


def test_the_order_reads_like_the_pipeline(dag) -> None:
    assert _upstream(dag, "wait_for_census") == {"check_params"}
    assert _upstream(dag, "compare_with_last_run") == {"wait_for_census"}
    assert _upstream(dag, "retrain_or_skip") == {"compare_with_last_run"}
    assert _upstream(dag, "preprocess") == _upstream(dag, "record_unchanged") == {
        "compare_with_last_run", "retrain_or_skip",
    }  # fmt: skip
    assert "preprocess" in _upstream(dag, "pca_training_config")
    assert "train_pca" in _upstream(dag, "plan_pca_endpoint")
    assert _upstream(dag, "deploy_pca") == {"plan_pca_endpoint"}
    assert {"deploy_pca", "choose_components"} <= _upstream(dag, "transform_with_pca")
    assert _upstream(dag, "pca_transform_path") == {"choose_components"}
    assert _upstream(dag, "plan_pca_endpoint") >= {"pca_transform_path", "train_pca"}
    assert _upstream(dag, "plan_pca_batch") >= {"pca_transform_path", "train_pca"}
    assert _upstream(dag, "projected") == {"transform_with_pca", "read_pca_batch"}
    assert "projected" in _upstream(dag, "kmeans_training_configs")
    assert _upstream(dag, "train_kmeans") == {"kmeans_training_configs"}
    assert "train_kmeans" in _upstream(dag, "choose_k") and "choose_k" in _upstream(dag, "plan_kmeans_endpoint")
    assert {"deploy_kmeans", "projected"} <= _upstream(dag, "assign_segments")
    assert _upstream(dag, "kmeans_transform_path") == {"choose_k"}
    assert _upstream(dag, "assigned_segments") == {"assign_segments", "read_kmeans_batch"}
    assert {"assigned_segments", "compare_with_last_run", "choose_k"} <= _upstream(dag, "match_segments")
    assert {"extract_attributes", "match_segments", "build_report", "document_run"} <= _upstream(dag, "publish")
    # latest.json moves last, after both endpoints are gone and everything is published.
    teardowns = {"delete_pca_endpoint", "delete_kmeans_endpoint", "delete_pca_model", "delete_kmeans_model"}
    assert teardowns <= _upstream(dag, "publish")
    # run.json's cost needs each endpoint's deletion and each transform job's end: it is written after the teardowns,
    # whichever transform path ran (the other's are skipped).
    assert teardowns <= _upstream(dag, "document_run")
    assert dag.get_task("document_run").trigger_rule == "none_failed_min_one_success"
    assert _upstream(dag, "promote") == {"publish"}


def test_a_run_with_nothing_changed_branches_to_record_it_and_skips_all_the_paid_work(dag) -> None:
    branch = dag.get_task("retrain_or_skip")
    assert set(branch.downstream_task_ids) == {"preprocess", "record_unchanged"}
    paid = {"train_pca", "deploy_pca", "train_kmeans", "deploy_kmeans"}
    assert paid <= {task.task_id for task in dag.get_task("preprocess").get_flat_relatives(upstream=False)}
    assert not paid & {t.task_id for t in dag.get_task("record_unchanged").get_flat_relatives(upstream=False)}


@pytest.mark.parametrize(("algorithm", "work"), [("pca", "transform_with_pca"), ("kmeans", "assign_segments")])
def test_each_endpoint_is_torn_down_after_its_work_by_a_teardown_of_its_plan(dag, algorithm, work) -> None:
    plan, teardown = dag.get_task(f"plan_{algorithm}_endpoint"), dag.get_task(f"delete_{algorithm}_endpoint")
    assert plan.is_setup and teardown.is_teardown
    assert {plan.task_id, work} <= set(teardown.upstream_task_ids)
    # The plan, not the deploy, is the setup: a failed deploy still leaves a succeeded setup,
    # so the teardown runs and deletes whatever the deploy managed to create.
    assert not dag.get_task(f"deploy_{algorithm}").is_setup


@pytest.mark.parametrize(("algorithm", "work"), [("pca", "read_pca_batch"), ("kmeans", "read_kmeans_batch")])
def test_each_batch_transforms_model_is_deleted_after_its_work_by_a_teardown_of_its_plan(dag, algorithm, work) -> None:
    plan, teardown = dag.get_task(f"plan_{algorithm}_batch"), dag.get_task(f"delete_{algorithm}_model")
    assert plan.is_setup and teardown.is_teardown
    assert {plan.task_id, work} <= set(teardown.upstream_task_ids)
    assert dag.get_task(f"batch_{algorithm}").deferrable


@pytest.mark.parametrize("stage", ["pca", "kmeans"])
def test_the_transform_param_chooses_one_path_per_stage_and_the_joins_take_whichever_ran(dag, stage) -> None:
    branch = dag.get_task(f"{stage}_transform_path")
    assert set(branch.downstream_task_ids) == {f"plan_{stage}_endpoint", f"plan_{stage}_batch"}
    join = dag.get_task("projected" if stage == "pca" else "assigned_segments")
    assert join.trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("publish").trigger_rule == "none_failed_min_one_success"


def test_training_runs_deferrable_with_its_log_printed(dag) -> None:
    task = dag.get_task("train_pca")
    assert task.deferrable and task.print_job_log and not task.print_log  # printed once, at the end
    assert task.check_interval == 1  # from [popseg] check_interval, 1 s in tests


def test_kmeans_trains_every_candidate_k_as_one_mapped_deferrable_task(dag) -> None:
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    task = dag.get_task("train_kmeans")
    assert isinstance(task, MappedOperator) and set(task.expand_input.value) == {"config"}
    assert task.partial_kwargs["deferrable"] and task.partial_kwargs["print_log"]
    assert task.operator_class.__name__ == "BuiltInTrainingOperator"


@pytest.mark.parametrize("algorithm", ["pca", "kmeans"])
def test_each_endpoint_deploy_waits_out_creating_deferred(dag, algorithm) -> None:
    # Creating takes 6–7 minutes on AWS: waited in the worker, it was most of a run's worker time
    # (bench/aws_profile.py).
    assert dag.get_task(f"deploy_{algorithm}").deferrable


def test_the_sensor_waits_deferrable(dag) -> None:
    assert dag.get_task("wait_for_census").deferrable


def test_promote_emits_the_results_asset_and_every_recorded_run_the_runs_asset(dag) -> None:
    assert [outlet.name for outlet in dag.get_task("promote").outlets] == ["population_segmentation_results"]
    for task_id in ("publish", "record_unchanged"):
        assert [outlet.name for outlet in dag.get_task(task_id).outlets] == ["population_segmentation_runs"]


def test_default_params_are_valid_and_every_one_is_described(dag) -> None:
    params = dag.params.validate()
    assert params["k"] == 8 and params["variance_threshold"] == 0.8 and params["instance_count"] == 1
    assert all(dag.params.get_param(name).description for name in params)


def test_the_trigger_form_shows_every_param_titled_and_the_segmentation_ones_first(dag) -> None:
    """The form lists `title` in place of the snake_case name; params without a `section` come first, in the
    open "Run Parameters" panel, the others under collapsed section headings."""
    schemas = {name: dag.params.get_param(name).schema for name in dag.params}
    assert all(schema.get("title") for schema in schemas.values())
    assert len({schema["title"] for schema in schemas.values()}) == len(schemas)  # no two fields look alike
    unsectioned = [name for name, schema in schemas.items() if "section" not in schema]
    unsectioned_params = ["k", "k_min", "k_max", "k_rule", "variance_threshold", "num_components"]
    assert unsectioned == unsectioned_params == list(schemas)[: len(unsectioned_params)]
    assert {schema.get("section") for schema in schemas.values()} == {
        None, "Census file and results", "SageMaker", "Nightly runs",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("k", 1),
        ("k", 51),
        ("k_min", 1),
        ("k_max", 51),
        ("k_rule", "gap"),
        ("variance_threshold", 0.3),
        ("variance_threshold", 1.0),
        ("training_instance_type", "c5.xlarge"),
        ("endpoint_instance_type", "ml.t2"),
        ("training_instance_type", "ml.p5.48xlarge"),  # well formed, but not on the allow-list: $98/hour
        ("endpoint_instance_type", "ml.p5.48xlarge"),
        ("num_components", 35),  # more than the census's 34 features
        ("num_components", 2147483647),
        ("sensor_timeout_seconds", 0),
        ("instance_count", 0),
        ("instance_count", 21),
        ("bucket", "Bad_Bucket"),
        ("bucket", "a..b"),
        ("bucket", "192.168.5.4"),
        ("bucket", "xn--popseg"),
        ("bucket", "sthree-popseg"),
        ("bucket", "amzn-s3-demo-popseg"),
        ("bucket", "popseg-s3alias"),
        ("bucket", "popseg--ol-s3"),
        ("bucket", "popseg.mrap"),
        ("bucket", "popseg--x-s3"),
        ("bucket", "popseg--table-s3"),
        ("bucket", "popseg-"),
        ("bucket", "p" * 64),
        ("input_key", "census/x.csv\nINFO forged log line"),
        ("input_key", "census/\x00.csv"),
        ("input_key", "census/\u2028.csv"),
        ("input_key", "k" * 1025),
        ("output_prefix", "results\r"),
        ("output_prefix", "/results"),
        ("output_prefix", "p" * 513),
        ("role_arn", "not-an-arn"),
    ],
)
def test_invalid_params_are_refused_at_trigger_time(dag, name, value) -> None:
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    params = ParamsDict(dag.params)
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}:"):
        params[name] = value  # what the trigger form and the REST API run on each value


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("bucket", "my.popseg-bucket.2026"),
        ("bucket", "abc"),
        ("bucket", "p" * 63),
        ("bucket", "192.168.5.4x"),
        ("bucket", "xn-popseg"),
        ("input_key", "census/ünïcode county file.csv"),
        ("output_prefix", "a"),
        ("output_prefix", "team/popseg"),
        ("num_components", 34),
        ("training_instance_type", "ml.m5.2xlarge"),
        ("endpoint_instance_type", "ml.c5.xlarge"),
    ],
)
def test_valid_edge_params_are_accepted_at_trigger_time(dag, name, value) -> None:
    param = copy.deepcopy(dag.params.get_param(name))  # resolve() keeps the value: not on the DAG's own param
    assert param.resolve(value) == value


def test_the_trigger_form_offers_exactly_the_allowed_instance_types(dag) -> None:
    from include.airflow_popseg import settings

    training, endpoint = (dag.params.get_param(f"{kind}_instance_type").schema for kind in ("training", "endpoint"))
    assert training["enum"] == list(settings.TRAINING_INSTANCE_TYPES) == list(settings.DEFAULT_TRAINING_INSTANCE_TYPES)
    assert endpoint["enum"] == list(settings.ENDPOINT_INSTANCE_TYPES) == list(settings.DEFAULT_ENDPOINT_INSTANCE_TYPES)
    assert dag.params.validate()["training_instance_type"] == "ml.c5.xlarge"
    assert dag.params.validate()["endpoint_instance_type"] == "ml.t2.medium"


def test_num_components_is_bounded_by_the_census_features(dag) -> None:
    from include.segmentation.census import FEATURES

    assert dag.params.get_param("num_components").schema["maximum"] == len(FEATURES) == 34


def test_the_instance_type_allow_lists_come_from_the_popseg_config() -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "from include.airflow_popseg import settings; print(settings.TRAINING_INSTANCE_TYPES)"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT),
             "AIRFLOW__POPSEG__TRAINING_INSTANCE_TYPES": " ml.m5.large, ml.g4dn.xlarge ,"},
    )  # fmt: skip
    assert loaded.returncode == 0 and loaded.stdout.strip() == "('ml.m5.large', 'ml.g4dn.xlarge')", loaded.stderr


@pytest.mark.parametrize("value", ["", "ml.m5.large,p5.48xlarge", " , "])
def test_a_malformed_instance_type_allow_list_is_refused_when_the_settings_load(value) -> None:
    loaded = subprocess.run(
        [sys.executable, "-c", "from include.airflow_popseg import settings"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "AIRFLOW__POPSEG__ENDPOINT_INSTANCE_TYPES": value},
    )
    assert loaded.returncode != 0
    assert "[popseg] endpoint_instance_types (AIRFLOW__POPSEG__ENDPOINT_INSTANCE_TYPES) must list" in loaded.stderr


def test_the_sensor_defers_with_the_timeout_from_its_param(monkeypatch) -> None:
    """dag.test() runs triggers inline and never times them out, so the timeout handed to the
    triggerer is checked here: it is what the scheduler enforces on a real deployment."""
    from datetime import timedelta

    from airflow.sdk.exceptions import TaskDeferred

    from include.airflow_popseg.operators import TemplatedTimeoutS3KeySensor

    # timeout_seconds as rendered from {{ params.sensor_timeout_seconds }}
    sensor = TemplatedTimeoutS3KeySensor(
        task_id="wait", bucket_name="popseg", bucket_key="census/absent.csv", timeout_seconds="3", deferrable=True
    )
    monkeypatch.setattr(TemplatedTimeoutS3KeySensor, "poke", lambda self, context: False)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(context={})
    assert deferred.value.timeout == timedelta(seconds=3)


def test_publish_carries_a_button_to_the_runs_report_through_serialization(dag) -> None:
    from airflow.serialization.serialized_objects import DagSerialization

    serialized = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    assert serialized.get_task("publish").extra_links == ["Segmentation report"]
    link = dag.get_task("publish").operator_extra_links[0]

    class Key:
        run_id = "manual__2026-11-23T02:00:00+00:00"

    assert link.get_link(dag.get_task("publish"), ti_key=Key()) == (
        "/segmentation/runs/manual__2026-11-23T02:00:00+00:00/report"
    )


def test_the_sweeper_runs_hourly_one_at_a_time_with_dry_run_off_by_default(sweeper_dag) -> None:
    """dry_run defaults off so that a deployment that opted in sweeps on schedule (tests/unit/test_sweeper_opt_in)."""
    assert sweeper_dag.timetable.expression == "0 * * * *"
    assert sweeper_dag.catchup is False and sweeper_dag.max_active_runs == 1
    params = sweeper_dag.params.validate()
    assert params["dry_run"] is False and params["ttl_hours"] == 24
    assert (params["keep_succeeded_days"], params["keep_failed_days"]) == (1, 3)
    assert sweeper_dag.task_ids == ["sweep"]


@pytest.mark.parametrize("name", ["bucket", "output_prefix"])
def test_the_sweeper_looks_where_the_runs_write_with_the_same_default_and_bounds(dag, sweeper_dag, name) -> None:
    def schema(param) -> dict:  # what the form explains differs: what the folder is to each DAG, and its section
        return {k: v for k, v in param.schema.items() if k not in ("description", "section")}

    runs, sweeper = dag.params.get_param(name), sweeper_dag.params.get_param(name)
    assert sweeper.value == runs.value and schema(sweeper) == schema(runs)


@pytest.mark.parametrize(
    ("name", "value"),
    [("ttl_hours", -1), ("keep_failed_days", -1), ("dry_run", "yes"), ("bucket", "a..b"), ("output_prefix", "x\ny")],
)
def test_invalid_sweeper_params_are_refused_at_trigger_time(sweeper_dag, name, value) -> None:
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    params = ParamsDict(sweeper_dag.params)
    with pytest.raises(ParamValidationError, match=f"Invalid input for param {name}:"):
        params[name] = value


def test_the_docs_page_is_written_for_users_and_names_params_by_their_form_titles(dag, sweeper_dag) -> None:
    titles = {param.schema.get("title") for param in dag.params.values()}
    named = set(re.findall(r"\*([^*]+)\*", dag.doc_md.replace("**", "")))
    assert named and named <= titles, named - titles
    for doc in (dag.doc_md, sweeper_dag.doc_md):
        assert not re.search(r"XCom|include\.|TaskGroup|setup/teardown", doc)  # developers' words: in the code
    assert "sweeper_deletes" in sweeper_dag.doc_md


def test_the_num_components_bound_is_the_census_feature_count(dag) -> None:
    """The DAG file states 34 (CENSUS_FEATURES) rather than import pandas through include.segmentation.census."""
    from include.segmentation.census import FEATURES

    assert dag.params.get_param("num_components").schema["maximum"] == len(FEATURES)
