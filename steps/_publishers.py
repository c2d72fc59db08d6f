"""The output seam: one publisher per value of the request's ``outputs`` (json, xlsx, html, bitable).

A publisher gets the task's :class:`~steps._outputs.Results` and a :class:`Destination` (the
output folder, the settings, who asked) and returns what it made: a file name inside the output
folder, or a link (a Bitable Base). The request schema's ``outputs`` enum and default, and the
manifest's validation of them, are generated from :data:`PUBLISHERS`.

This module is imported by the manifest, so it stays light: the writers import what they need
(openpyxl …) when they run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ._bitable._publish import BitablePublisher
from ._plugins import Registry
from ._settings import Settings
from ._workspace import atomic_write_bytes
from .errors import PermanentError

if TYPE_CHECKING:
    from ._outputs.collect import Results

__all__ = [
    "PUBLISHERS",
    "RESULTS_OUTPUT",
    "Destination",
    "FilePublisher",
    "Publisher",
    "default_outputs",
    "publish_results",
    "render_reports",
]

RESULTS_OUTPUT = "json"  # always written, and last: its presence means the others are complete


@dataclass(frozen=True)
class Destination:
    """Where results are published, and for whom."""

    out_dir: Path  # the task's output folder; file outputs are written here
    settings: Settings | None = None  # None when re-rendering a copied output folder offline
    requester: str | None = None  # who asked (a Feishu open_id), when the front door says


class Publisher(Protocol):
    """Publishes a task's results in one form."""

    @property
    def name(self) -> str:
        """The value of the request's ``outputs`` that asks for it."""
        ...

    @property
    def description(self) -> str:
        """One line for the request schema."""
        ...

    @property
    def default(self) -> bool:
        """Whether a request that names no outputs gets it."""
        ...

    @property
    def local(self) -> bool:
        """Whether it writes a file into the output folder (and can be re-rendered offline)."""
        ...

    def publish(self, results: Results, to: Destination) -> str:
        """Publish ``results``; returns the file name inside ``to.out_dir``, or a link."""
        ...


@dataclass(frozen=True)
class FilePublisher:
    """A publisher that writes one file into the output folder with ``write(results, out_dir, name)``."""

    name: str
    file_name: str
    description: str
    write: Callable[[Results, Path, str], object]
    default: bool = True
    local: bool = True

    def publish(self, results: Results, to: Destination) -> str:
        self.write(results, to.out_dir, self.file_name)
        return self.file_name


def _write_json(results: Results, out_dir: Path, name: str) -> None:
    atomic_write_bytes(out_dir / name, results.model_dump_json(indent=2).encode("utf-8"))


def _write_xlsx(results: Results, out_dir: Path, name: str) -> None:
    from ._outputs.excel import write_xlsx

    write_xlsx(results, out_dir, name)


def _write_html(results: Results, out_dir: Path, name: str) -> None:
    from ._outputs.html import write_html

    write_html(results, out_dir, name)


PUBLISHERS: Registry[Publisher] = Registry(
    "output",
    [
        FilePublisher("json", "results.json", "results.json with every result, always written", _write_json),
        FilePublisher("xlsx", "report.xlsx", "report.xlsx, a workbook with the images", _write_xlsx),
        FilePublisher("html", "report.html", "report.html, a page to open in a browser", _write_html),
        BitablePublisher(),
    ],
)


def default_outputs() -> list[str]:
    """The outputs of a request that names none."""
    return [name for name, p in PUBLISHERS.items() if p.default]


def publish_results(
    results: Results,
    outputs: Iterable[str],
    to: Destination,
    publishers: Registry[Publisher] = PUBLISHERS,
    *,
    failures: dict[str, dict[str, str]] | None = None,
) -> dict[str, str]:
    """Publish ``results`` in each of ``outputs`` (and always ``json``, last); ``{output: file or link}``.

    With ``failures``, an output published elsewhere (not ``local``: a Bitable) that fails for good
    is recorded there as ``{output: {code, message}}`` and the others are still published; without
    it, the error propagates. Transient errors always propagate (the step is retried).

    Raises ``UnknownName`` (a ``KeyError``) for an output no publisher has, before publishing any.
    """
    chosen = {name: publishers[name] for name in {RESULTS_OUTPUT, *outputs}}  # unknown names raise here
    made: dict[str, str] = {}
    for name in publishers:
        if name not in chosen or name == RESULTS_OUTPUT:
            continue
        try:
            made[name] = chosen[name].publish(results, to)
        except PermanentError as exc:
            if failures is None or chosen[name].local:
                raise
            failures[name] = exc.to_dict()
    made[RESULTS_OUTPUT] = chosen[RESULTS_OUTPUT].publish(results, to)
    return {name: made[name] for name in publishers if name in made}


def render_reports(results_json: Path | str, outputs: Iterable[str] | None = None) -> dict[str, Path]:
    """Re-render the file outputs beside an existing ``results.json``; ``{output: path}`` of what was written.

    Paths inside results.json are relative to its folder, so this works on a copied or downloaded
    output folder, with no task workspace. ``outputs`` defaults to every local one but ``json``.
    """
    from ._outputs.collect import Results
    from ._workspace import read_json

    path = Path(results_json)
    results = Results.model_validate(read_json(path))
    if outputs is None:
        outputs = [n for n, p in PUBLISHERS.items() if p.local and n != RESULTS_OUTPUT]
    chosen = [PUBLISHERS[name] for name in outputs]
    remote = [p.name for p in chosen if not p.local]
    if remote:
        raise ValueError(f"only file outputs can be re-rendered from results.json, not {', '.join(remote)}")
    to = Destination(out_dir=path.parent)
    return {p.name: path.parent / p.publish(results, to) for p in chosen}
