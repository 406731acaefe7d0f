"""Development tooling shared by tests/ and bench/: hostile inputs and the child that measures their refusal,
and a synthetic segmentation run computed locally. Never deployed: nothing under dags/, include/ or plugins/
imports it (tests/dag/test_deploy_boundary.py)."""
