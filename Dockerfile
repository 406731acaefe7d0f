# Two images for docker-compose, one boundary (README "Layout"):
#   airflow  — Airflow 3.3.2 with the deployment's pinned requirements only (requirements.txt): what
#              MWAA or Astronomer would run. Nothing of the emulator is installed in it.
#   emulator — the local AWS emulator: the same base plus requirements-emulator.txt (moto, Flask,
#              scikit-learn …). Development tooling; never deploy it.
FROM apache/airflow:3.3.2-python3.11 AS airflow
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt

FROM airflow AS emulator
COPY requirements-emulator.txt /tmp/requirements-emulator.txt
RUN pip install --no-cache-dir -r /tmp/requirements-emulator.txt
