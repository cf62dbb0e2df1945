"""`opmon`: the one command line for the whole service.

Subcommands live next to the code they drive and are imported only when called, so that
`opmon stats` does not load torch. Add a subcommand by adding a line to COMMANDS.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

# name -> "module:click_command"
COMMANDS: dict[str, str] = {
    "ingest": "store.cli:ingest",
    "stats": "store.cli:stats",
    "serve": "api.cli:serve",
    "keys": "api.cli:keys",
    "webhooks": "api.cli:webhooks",
    "score": "nlp.cli:score",
    "alerts": "alerts.cli:alerts",
    "scheduler": "ops.cli:scheduler",
    "demo": "ops.cli:demo",
    "replay": "ops.cli:replay",
    "brands": "store.brands_cli:brands",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in COMMANDS if self._available(name))

    @staticmethod
    def _available(name: str) -> bool:
        module = COMMANDS[name].split(":")[0]
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            return False

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attr = target.split(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Public-opinion monitoring for customer-experience teams."""
    from core.logs import setup_logging

    setup_logging()


if __name__ == "__main__":
    main()
