"""An Airflow listener that bench/pipeline.py --airflow scheduler loads as its plugins folder (task_memory.py)."""
