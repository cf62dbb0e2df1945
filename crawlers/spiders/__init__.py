"""Spiders: each only parses (yields mention dicts and requests); pipelines do the rest.

Spiders build on `crawlers.spiders.base.OpmonSpider`; see docs/crawling.md "How to add a spider".
"""
