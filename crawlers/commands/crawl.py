"""`scrapy crawl` with an exit status that tells a blocked crawl apart.

Scrapy exits 0 whenever the engine ran, so a cron job or CI step could not tell "the site blocked us"
from "nothing new" without reading the log. Exit statuses:

    0  finished (items or none)        1  the crawl could not start (Scrapy's own)
    2  bad command line (Scrapy's own) 3  blocked: the site kept answering with a block signal
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from scrapy.commands.crawl import Command as ScrapyCrawl
from scrapy.exceptions import UsageError

from core.errors import OpmonError

EXIT_BLOCKED = 3
logger = logging.getLogger(__name__)


def report_start_failure(task) -> None:
    """A crawl that cannot start because of something the operator can fix (a missing `-a keyword`,
    a JOBDIR in use) says so in one ERROR line instead of asyncio's "Task exception was never
    retrieved" and a traceback; other failures keep their traceback. The exit status stays 1."""
    if task.cancelled():
        return
    exc = task.exception()  # retrieving it is what silences asyncio's report
    if isinstance(exc, OpmonError):
        logger.error("the crawl could not start: %s", exc)
    elif exc is not None:
        logger.error("the crawl could not start", exc_info=exc)


class Command(ScrapyCrawl):
    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if not args:
            raise UsageError
        if len(args) > 1:
            raise UsageError("running 'scrapy crawl' with more than one spider is not supported")
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        started = self.crawler_process.crawl(crawler, **opts.spargs)
        if isinstance(started, asyncio.Future):  # the asyncio runner (TWISTED_REACTOR ... asyncio)
            started.add_done_callback(report_start_failure)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
        elif crawler.stats.get_value("finish_reason") == "blocked":
            self.exitcode = EXIT_BLOCKED
