"""Fixtures for tests/api live in api_testkit.py, a module with a unique name, so that test files can import
its helpers (`from api_testkit import ...`) whatever other test folders pytest loaded first."""

import api_testkit

globals().update({k: v for k, v in vars(api_testkit).items() if not k.startswith("__")})
