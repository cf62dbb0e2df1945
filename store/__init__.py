"""Mention storage backends: embedded SQLite (default) and Elasticsearch 8."""
