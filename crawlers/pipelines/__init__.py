"""Item pipelines, in order: validate → brands → dedupe → nlp → store (see crawlers/settings.py)."""

from crawlers.pipelines.brands import BrandPipeline
from crawlers.pipelines.dedupe import DedupePipeline
from crawlers.pipelines.nlp import NlpPipeline
from crawlers.pipelines.store import StorePipeline
from crawlers.pipelines.validate import ValidatePipeline

__all__ = ["BrandPipeline", "DedupePipeline", "NlpPipeline", "StorePipeline", "ValidatePipeline"]
