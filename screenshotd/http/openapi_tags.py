"""The groups of the API reference (``/docs``): each operation's tag, by its path, and the tags
declared with what each holds. A path in no group is a mistake in the table, found when the
document is built."""

from __future__ import annotations

from typing import Any

#: The groups of the API reference (``/docs``), in their order, with what each holds.
TAGS: tuple[tuple[str, str], ...] = (
    ("Captures", "Screenshots and PDFs of a page or of your HTML."),
    ("Videos", "Recordings of a page, scrolling or replaying actions."),
    ("OG images", "Open Graph images from a title and a template."),
    ("Jobs and batch", "Async captures, their status, results and events; many at once."),
    ("Diff", "Pixel diffs of two pages, images or jobs."),
    ("Results", "Cached captures by their key, and results kept in the result storage."),
    ("Monitors", "Captures on a schedule with visual change detection, and their widgets."),
    ("Account", "Who the caller is, and what it has left."),
    ("Operations", "Health and metrics, for the operator."),
)

#: Each path's group: the first prefix that the path starts with.
PATH_TAGS: tuple[tuple[str, str], ...] = (
    ("/screenshot", "Captures"), ("/video", "Videos"), ("/og-image", "OG images"),
    ("/batch", "Jobs and batch"), ("/jobs", "Jobs and batch"), ("/diff", "Diff"),
    ("/images/", "Results"), ("/results/", "Results"), ("/me", "Account"),
    ("/monitors", "Monitors"), ("/widget/", "Monitors"), ("/links/monitors/", "Monitors"),
    ("/health", "Operations"), ("/metrics", "Operations"),
)


def tag_paths(paths: dict[str, Any], groups: tuple[tuple[str, str], ...]) -> None:
    """Put every operation of ``paths`` in its group (the first prefix of ``groups`` that its
    path starts with). A path in no group is a mistake in the table: it raises."""
    for path, item in paths.items():
        tag = next((tag for prefix, tag in groups if path.startswith(prefix)), None)
        if tag is None:
            raise LookupError(f"the API reference has no group for {path}")
        for operation in item.values():
            operation["tags"] = [tag]
