"""The seed APIs' faces: each hosted API that screenshotd replaces, as its own clients call it.

=====  ==========================  ==========================================================
seed   module                      paths
=====  ==========================  ==========================================================
000    :mod:`.goscreen`            ``/api/v1/screenshot``, ``/api/v1/screenshots``, ``/api/v1/me``,
                                   ``/api/v1/batch``, ``/api/v1/diff``, ``/api/v1/og-image``
001    :mod:`.capture_flow`        ``/api/screenshot/capture``
003    :mod:`.allscreenshots`      ``/v1/screenshots``, ``/v1/screenshots/async``,
                                   ``/v1/screenshots/jobs/{id}``
004    :mod:`.sessionshot`         ``/api/captures``
=====  ==========================  ==========================================================

``DIALECTS`` names the faces served (all four by default). What they share is in
:mod:`.base`; ``docs/compat.md`` lists every field of every document and what becomes of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.routing import Route

from screenshotd.core.jobs.webhooks import WebhookStyle
from screenshotd.http.dialects import allscreenshots, capture_flow, goscreen, sessionshot
from screenshotd.http.dialects.base import Face, Links, open_link

ALL = ("000", "001", "003", "004")


class Faces:
    """The faces an app serves, and what the rest of the app asks of them."""

    def __init__(self, names: Iterable[str], links: Links) -> None:
        made: dict[str, Callable[[], Face]] = {
            "000": lambda: goscreen.make(links), "001": capture_flow.make,
            "003": allscreenshots.make, "004": lambda: sessionshot.make(links)}
        self.links = links
        self.faces: tuple[Face, ...] = tuple(made[name]() for name in ALL if name in set(names))

    @property
    def routes(self) -> list[Route]:
        """Every face's routes, and ``/links/…`` (when any face is served)."""
        if not self.faces:
            return []
        return [*(route for face in self.faces for route in face.routes),
                Route("/links/{name}", open_link, methods=["GET"])]

    def owner(self, path: str) -> Face | None:
        """The face whose paths ``path`` is under, if any."""
        for face in self.faces:
            if face.owns(path):
                return face
        return None

    @property
    def webhook_styles(self) -> dict[str, WebhookStyle]:
        return {face.name: face.webhook for face in self.faces if face.webhook is not None}

    def query_key_names(self, path: str) -> tuple[str, ...] | None:
        """The query parameters that may carry a key on ``path``: under a face, only the
        one its document uses there (``000``'s stream, ``?key=``); None elsewhere (the native
        rule)."""
        face = self.owner(path)
        if face is None:
            return None
        if face.query_key is not None:
            start, end, name = face.query_key
            if path.startswith(start) and path.endswith(end):
                return (name,)
        return ()

    def tags(self) -> list[tuple[str, str, str]]:
        """Each face's OpenAPI tag, its description and its path prefixes."""
        return [(face.tag, f"Seed {face.name}'s own paths, bodies and answers "
                 f"(docs/compat.md).", prefix) for face in self.faces for prefix in face.prefixes]


__all__ = ["ALL", "Face", "Faces", "Links"]
