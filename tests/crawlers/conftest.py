"""Fixtures for tests/crawlers live in crawl_testkit.py, a module with a unique name, so that test files can import
its helpers (`from crawl_testkit import ...`) whatever other test folders pytest loaded first."""

import crawl_testkit

globals().update({k: v for k, v in vars(crawl_testkit).items() if not k.startswith("__")})
