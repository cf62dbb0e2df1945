"""Fixtures for tests/ops live in ops_testkit.py, a module with a unique name, so that test files can import
its helpers (`from ops_testkit import ...`) whatever other test folders pytest loaded first."""

import ops_testkit

globals().update({k: v for k, v in vars(ops_testkit).items() if not k.startswith("__")})
