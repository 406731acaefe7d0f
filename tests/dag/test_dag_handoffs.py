"""The DAGs' tasks hand each other the types of include.airflow_popseg.handoffs, pushed as before: whole and key
by key."""

from __future__ import annotations

import typing

import pytest

from include.airflow_popseg import handoffs

# Every task of population_segmentation that hands something on (the training operators return TrainingResult).
HANDING_ON = (
    "preprocess",
    "pca_training_config",
    "choose_components",
    "plan_pca_endpoint",
    "transform_with_pca",
    "plan_pca_batch",
    "read_pca_batch",
    "projected",
    "choose_k",
    "plan_kmeans_endpoint",
    "assign_segments",
    "plan_kmeans_batch",
    "read_kmeans_batch",
    "assigned_segments",
    "extract_attributes",
    "document_run",
    "build_report",
    "publish",
)
HANDOFF_TYPES = {value for value in vars(handoffs).values() if typing.is_typeddict(value)} | {
    handoffs.TrainingConfig,
    handoffs.ResultFiles,
}


def _returns(task) -> object:
    return typing.get_type_hints(task.python_callable, task.python_callable.__globals__)["return"]


@pytest.mark.parametrize("task_id", HANDING_ON)
def test_a_task_returns_a_handoff_type(dag, task_id) -> None:
    assert _returns(dag.get_task(task_id)) in HANDOFF_TYPES


@pytest.mark.parametrize("task_id", HANDING_ON)
def test_a_tasks_handoff_is_pushed_whole_and_key_by_key_as_before_it_was_typed(dag, task_id) -> None:
    assert dag.get_task(task_id).multiple_outputs is True


def test_the_kmeans_candidates_configs_are_one_list_that_the_training_task_maps_over(dag) -> None:
    configs = dag.get_task("kmeans_training_configs")
    assert _returns(configs) == list[handoffs.TrainingConfig] and configs.multiple_outputs is False


def test_a_tasks_parameters_are_the_handoffs_it_reads(dag) -> None:
    hints = typing.get_type_hints(dag.get_task("publish").python_callable)
    assert hints["chosen"] is handoffs.Chosen and hints["documented"] == handoffs.ResultFiles


def test_the_sweepers_report_is_a_handoff_pushed_whole_and_key_by_key(sweeper_dag) -> None:
    sweep = sweeper_dag.get_task("sweep")
    assert _returns(sweep) is handoffs.SweepReport and sweep.multiple_outputs is True
