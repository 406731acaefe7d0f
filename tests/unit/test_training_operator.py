"""The training operator: a retried try says in its log why it ran again; one try logs its job config once."""

from __future__ import annotations

from include.airflow_popseg.operators import retry_explanation


def test_a_first_try_explains_nothing() -> None:
    assert retry_explanation(1, "Training job popseg-pca-x", "Completed") is None


def test_a_later_try_that_finds_its_job_running_names_the_deferral_race() -> None:
    explanation = retry_explanation(2, "Training job popseg-pca-x", "InProgress")
    assert explanation.startswith("This is try 2:")
    assert "popseg-pca-x is InProgress" in explanation and "apache/airflow#72716" in explanation
    assert "nothing is started or paid twice" in explanation


def test_a_later_try_that_finds_its_job_failed_says_sagemaker_failed_it() -> None:
    explanation = retry_explanation(3, "Endpoint popseg-pca-x", "Failed")
    assert explanation == "This is try 3: Endpoint popseg-pca-x is Failed, so the earlier try failed in SageMaker."


def test_a_retried_training_task_logs_why_before_it_reattaches(monkeypatch, capsys, caplog) -> None:
    from types import SimpleNamespace

    from include.airflow_popseg.operators import BuiltInTrainingOperator

    operator = BuiltInTrainingOperator(task_id="train_pca", config={"TrainingJobName": "popseg-pca-x"}, print_log=False)
    monkeypatch.setattr(operator, "preprocess_config", lambda: None)
    monkeypatch.setattr(operator, "_describe", lambda name: {"TrainingJobName": name, "TrainingJobStatus": "Completed"})
    monkeypatch.setattr(operator, "result", lambda name: {"job_name": name})
    assert operator.execute({"ti": SimpleNamespace(try_number=2)}) == {"job_name": "popseg-pca-x"}
    logged = caplog.text + capsys.readouterr().out
    assert (
        "This is try 2: Airflow ran this task again (a retry, or a clear) although Training job popseg-pca-x" in logged
    )


def test_a_training_try_preprocesses_and_logs_its_job_config_once() -> None:
    from types import SimpleNamespace

    from include.airflow_popseg.operators import BuiltInTrainingOperator

    configured = []
    operator = BuiltInTrainingOperator(task_id="train_pca", config={"TrainingJobName": "popseg-pca-x"}, print_log=False)
    operator.__dict__["hook"] = SimpleNamespace(configure_s3_resources=configured.append)
    operator.preprocess_config()  # ours, for the job's name
    operator.preprocess_config()  # the provider's execute, again
    assert configured == [operator.config]
