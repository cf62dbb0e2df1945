"""Shared foundation: the mention model, settings, errors and the `opmon` command line."""
