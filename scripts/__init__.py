"""The project's commands: `make run` (run_local), `make airflow` (local_airflow), `make upload` (seed_emulator).

Run as files (`python scripts/run_local.py`); they import each other as `scripts.<name>`, from the installed
project (`make install`)."""
