"""Test-only IAM tooling: a policy evaluator and the map from recorded AWS calls to IAM requests.

It lives under tests/ because nothing at run time evaluates policies: AWS does. Shipping it in
`include/` would put it in the Airflow image for no user.
"""
