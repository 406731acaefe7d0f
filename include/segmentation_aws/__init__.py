"""The segmentation pipeline's side on AWS: where each run's files live and how they are read and written
(`layout`, `store`), SageMaker names and requests, endpoint I/O and teardown, and the published runs.

Takes boto3 clients (the Amazon provider's hooks give them); no Airflow imports.
"""
