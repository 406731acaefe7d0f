"""The sweeper deletes only where the deployment opted in ([popseg] sweeper_deletes), whatever its dry_run param."""

from __future__ import annotations

import pytest

from include.airflow_popseg import settings
from include.airflow_popseg.sweeper import dry_run_decision


@pytest.mark.parametrize("dry_run_param", [False, True])
def test_without_the_opt_in_every_sweep_is_a_dry_run_that_says_why(dry_run_param: bool) -> None:
    dry_run, why = dry_run_decision(dry_run_param, deletes_opted_in=False)
    assert dry_run is True
    assert "sweeper_deletes" in why and "AIRFLOW__POPSEG__SWEEPER_DELETES" in why


def test_with_the_opt_in_the_dry_run_param_still_keeps_everything() -> None:
    assert dry_run_decision(True, deletes_opted_in=True)[0] is True


def test_with_the_opt_in_and_no_dry_run_the_sweep_deletes() -> None:
    assert dry_run_decision(False, deletes_opted_in=True)[0] is False


def test_the_opt_in_is_off_unless_the_deployment_sets_it(monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW__POPSEG__SWEEPER_DELETES", raising=False)
    assert settings.sweeper_deletes() is False
    monkeypatch.setenv("AIRFLOW__POPSEG__SWEEPER_DELETES", "true")
    assert settings.sweeper_deletes() is True
    monkeypatch.setenv("AIRFLOW__POPSEG__SWEEPER_DELETES", "False")
    assert settings.sweeper_deletes() is False
