"""Sources turn the outside world into ordered LogLines and publish them to the hub.

A source is anything with `async run()`: it runs until cancelled, registers what it follows
with `hub.add_source`, publishes lines with `hub.publish`, reports changes with
`hub.announce` and its health with `hub.set_state`. It knows nothing of HTTP.
"""

from __future__ import annotations

from typing import Protocol

from sidecar.config import Settings
from sidecar.hub import Hub


class Source(Protocol):
    async def run(self) -> None: ...


class SourceError(Exception):
    """A source could not answer a request (e.g. the Kubernetes API refused); the message says why."""


def build_sources(settings: Settings, hub: Hub) -> list[Source]:
    """The sources the settings ask for. Imports are local so an unused source costs nothing."""
    sources: list[Source] = []
    if settings.files:
        from sidecar.sources.files import FileSource

        sources.append(FileSource(settings, hub))
    if settings.pod_source != "off":
        from sidecar.sources.pods import PodLogSource

        sources.append(PodLogSource(settings, hub))
    return sources
