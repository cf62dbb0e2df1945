"""Misbehaviour on purpose: rules the replay site applies before answering normally.

    site.faults.add(Fault(r"getIndex.*page=3", "status", status=432, times=None))

A fault matches request paths by regex; `times` bounds how often it fires (None = always). Actions:
  status     answer `status` with a small HTML body (500, 429, 418, 432, 403 ...)
  timeout    sleep `seconds` before answering normally (longer than the client's timeout)
  truncate   answer the normal body cut in half (truncated JSON / HTML)
  captcha    200 with m.weibo.cn's captcha JSON {"ok":-100,...,"url":".../captcha..."}
  login      302 to a login/visitor page on the same server
  charset    the normal body with `Content-Type` lacking its charset (the page's <meta> must win)
  drop       close the connection without answering
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

CAPTCHA = b'{"ok":-100,"errno":"-100","msg":"","url":"https://m.weibo.cn/captcha?scene=limit&referer=/","extra":""}'


@dataclass
class Fault:
    pattern: str
    action: str
    times: int | None = 1
    status: int = 500
    seconds: float = 3.0
    fired: int = 0
    _re: re.Pattern = field(init=False, repr=False)

    def __post_init__(self):
        self._re = re.compile(self.pattern)

    def matches(self, path: str) -> bool:
        return bool(self._re.search(path)) and (self.times is None or self.fired < self.times)


class Faults:
    def __init__(self):
        self.rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def take(self, path: str) -> Fault | None:
        """The first rule that fires on `path` (counted), or None."""
        with self._lock:
            for f in self.rules:
                if f.matches(path):
                    f.fired += 1
                    return f
        return None
