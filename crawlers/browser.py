"""The one place that knows how to launch the browser for Playwright-rendered pages.

Debian's Chromium (`apt-get install chromium`); `playwright install` cannot download a browser on
machines without internet. The flags stop Chromium from phoning home, which a closed network
answers with a storm of refused connections.
"""

from __future__ import annotations

from core.settings import get_settings

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# Rendering needs the DOM and scripts only; images, media, fonts and CSS are fetched separately
# when a parser needs them (the Dianping CSS/SVG sprites).
ABORTED_RESOURCES = frozenset({"image", "media", "font", "stylesheet"})


def launch_options() -> dict:
    return {"executable_path": get_settings().chromium_path, "args": CHROMIUM_ARGS, "headless": True}


def abort_request(request) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST: skip what the page does not need to show its text."""
    return request.resource_type in ABORTED_RESOURCES
