"""Spike detection, the alert lifecycle and delivery to CEM systems."""
