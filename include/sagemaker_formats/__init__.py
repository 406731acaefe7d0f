"""SageMaker's wire and artifact formats, shared by the app and the local emulator.

`recordio` is the RecordIO-protobuf stream the built-in algorithms read and write (SageMaker Python SDK v2
`record.proto`), `mxnet_ndarray` the MXNet 1.9.1 NDArray file of `model_algo-1`, and `artifacts` the
`model.tar.gz` archives of the built-in PCA and K-Means. Each is byte-compatible with what SageMaker writes
and reads, bounded against hostile input, and owns its format's constants (content type, magic numbers,
limits). numpy and the standard library only: no pandas, Airflow, AWS SDK or `include.segmentation`.
"""
