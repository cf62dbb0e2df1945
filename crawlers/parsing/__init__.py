"""Pure parsing helpers shared by every spider: dates, counts, HTML to plain text.

No Scrapy imports here: these are plain functions, unit-tested on every documented form.
"""

from crawlers.parsing.counts import parse_count
from crawlers.parsing.dates import parse_cn_datetime, parse_since
from crawlers.parsing.text import clean_location, html_to_text

__all__ = ["clean_location", "html_to_text", "parse_cn_datetime", "parse_count", "parse_since"]
