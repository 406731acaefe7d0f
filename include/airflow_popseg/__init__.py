"""The few Airflow-specific pieces the DAG needs beyond the Amazon provider's own operators."""
