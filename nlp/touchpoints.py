"""CEM touchpoints: which step of the customer journey a sentence is about.

Taxonomies are YAML files (`nlp/taxonomies/<name>.yaml`, or any path) mapping touchpoint names to
trigger terms. Matching is per sentence (or clause); the caller scores the matched sentences with
the sentiment model, so every touchpoint gets the sentiment of the words that mention it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

TAXONOMY_DIR = Path(__file__).parent / "taxonomies"
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;\n…])")
_CLAUSE_END = re.compile(r"(?<=[，,、：:])")


@dataclass(frozen=True)
class Touchpoint:
    name: str
    taxonomy: str
    triggers: tuple[str, ...]


@dataclass(frozen=True)
class Match:
    touchpoint: str
    sentence: str
    trigger: str


def load_taxonomy(name_or_path: str) -> list[Touchpoint]:
    import yaml

    path = Path(name_or_path)
    if not path.suffix:
        path = TAXONOMY_DIR / f"{name_or_path}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in TAXONOMY_DIR.glob("*.yaml")))
        raise ConfigError(f"touchpoint taxonomy {name_or_path!r} not found (shipped: {known}; or give a YAML path)")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        items = doc["touchpoints"].items()
    except (yaml.YAMLError, KeyError, AttributeError) as exc:
        raise ConfigError(f"taxonomy {path} must be YAML with a 'touchpoints' mapping: {exc}") from exc
    name = str(doc.get("name") or path.stem)
    out = []
    for touchpoint, triggers in items:
        if not isinstance(triggers, list) or not triggers:
            raise ConfigError(f"taxonomy {path}: touchpoint {touchpoint!r} needs a list of trigger terms")
        out.append(Touchpoint(str(touchpoint), name, tuple(str(t).lower() for t in triggers if str(t).strip())))
    return out


def split_units(text: str, unit: str = "sentence") -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    if unit == "clause":
        parts = [c.strip() for p in parts for c in _CLAUSE_END.split(p) if c and c.strip()]
    return parts


class TouchpointMatcher:
    """Finds touchpoints in texts. Touchpoints with the same name in several taxonomies merge."""

    def __init__(self, touchpoints: Sequence[Touchpoint], unit: str = "sentence"):
        merged: dict[str, set[str]] = {}
        for tp in touchpoints:
            merged.setdefault(tp.name, set()).update(tp.triggers)
        self.names = list(merged)
        self.unit = unit
        trigger_to_tp: dict[str, list[str]] = {}
        for name, triggers in merged.items():
            for t in triggers:
                trigger_to_tp.setdefault(t, []).append(name)
        self._trigger_to_tp = trigger_to_tp
        # Longest trigger first, so "售后服务" wins over "服务".
        alternatives = sorted(trigger_to_tp, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    @classmethod
    def from_names(cls, names: str | Sequence[str], unit: str = "sentence") -> TouchpointMatcher:
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",") if n.strip()]
        touchpoints = [tp for n in names for tp in load_taxonomy(n)]
        return cls(touchpoints, unit=unit)

    def match(self, text: str) -> list[Match]:
        """Each (touchpoint, sentence) pair once, in text order."""
        if self._pattern is None or not text:
            return []
        found: list[Match] = []
        seen: set[tuple[str, str]] = set()
        for sentence in split_units(text, self.unit):
            for m in self._pattern.finditer(sentence.lower()):
                for tp in self._trigger_to_tp[m.group(0)]:
                    if (tp, sentence) not in seen:
                        seen.add((tp, sentence))
                        found.append(Match(tp, sentence, m.group(0)))
        return found
