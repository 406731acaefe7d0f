# The Airflow image for docker-compose: Airflow 3.3.2 with popseg's pinned requirements.
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt
