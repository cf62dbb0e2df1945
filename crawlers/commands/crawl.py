"""`scrapy crawl` with an exit status that tells a blocked crawl apart.

Scrapy exits 0 whenever the engine ran, so a cron job or CI step could not tell "the site blocked us"
from "nothing new" without reading the log. Exit statuses:

    0  finished (items or none)        1  the crawl could not start (Scrapy's own)
    2  bad command line (Scrapy's own) 3  blocked: the site kept answering with a block signal
"""

from __future__ import annotations

import argparse

from scrapy.commands.crawl import Command as ScrapyCrawl
from scrapy.exceptions import UsageError

EXIT_BLOCKED = 3


class Command(ScrapyCrawl):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args:
            raise UsageError
        if len(args) > 1:
            raise UsageError("running 'scrapy crawl' with more than one spider is not supported")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
        elif crawler.stats.get_value("finish_reason") == "blocked":
            self.exitcode = EXIT_BLOCKED
