"""Fixtures for tests/alerts live in alerts_testkit.py, a module with a unique name, so that test files can import
its helpers (`from alerts_testkit import ...`) whatever other test folders pytest loaded first."""

import alerts_testkit

globals().update({k: v for k, v in vars(alerts_testkit).items() if not k.startswith("__")})
