"""Helpers the tests share: imported by test modules and conftest.py files, never a test module itself.

conftest.py files hold only fixtures and hooks; what a test calls (request builders, servers it starts,
records it plants, the IAM evaluator, the fault proxy) lives here."""
