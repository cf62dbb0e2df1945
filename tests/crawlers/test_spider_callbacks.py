"""Scrapy's per-response check for `return value` in generator callbacks is off in the project settings
(it re-parses the callback's source on every response); this runs the same check once per spider method."""

from __future__ import annotations

import inspect

from scrapy.spiderloader import SpiderLoader
from scrapy.utils.misc import is_generator_with_return_value
from scrapy.utils.project import get_project_settings


class _Bad:
    def parse(self, response):
        yield {"a": 1}
        return "lost"  # a generator's return value never reaches Scrapy


def _spider_generators():
    loader = SpiderLoader.from_settings(get_project_settings())
    for name in loader.list():
        cls = loader.load(name)
        for attr, func in inspect.getmembers(cls, inspect.isgeneratorfunction):
            yield f"{name}.{attr}", func


def test_no_spider_callback_is_a_generator_with_a_return_value():
    assert is_generator_with_return_value(_Bad.parse)  # the check itself still works
    checked = dict(_spider_generators())
    assert "weibo.parse_search" in checked and len(checked) > 10
    bad = [name for name, func in checked.items() if is_generator_with_return_value(func)]
    assert bad == []


def test_the_per_response_check_is_off_in_the_project_settings():
    assert get_project_settings().getbool("WARN_ON_GENERATOR_RETURN_VALUE") is False
