"""File names in reports for CI tools (SARIF, JUnit): relative to the checkout, so they link to the code.

The root is the enclosing git work tree of the current directory (where CI
runs), else the current directory. A file outside it keeps its absolute
location (the bundled packs of an installed wheel, for instance).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from urllib.parse import quote

SRCROOT = "SRCROOT"  # SARIF uriBaseId of the checkout


def source_root(cwd: Path | None = None) -> Path:
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / ".git").exists():
            return folder
    return here


def relative_path(file: str | Path, root: Path) -> str | None:
    """The file's POSIX path below ``root``, or None when it is elsewhere."""
    try:
        return Path(file).resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def artifact_location(file: str | Path, root: Path) -> dict[str, str]:
    """A SARIF artifactLocation: relative to SRCROOT when inside the checkout, else an absolute file URI."""
    rel = relative_path(file, root)
    if rel is None:
        return {"uri": Path(file).resolve().as_uri()}
    return {"uri": quote(rel), "uriBaseId": SRCROOT}


def tool_version() -> str:
    try:
        return metadata.version("claimscrub")
    except metadata.PackageNotFoundError:  # running from a checkout that is not installed
        return "0+unknown"


def home_page() -> str | None:
    """The project's address from its package metadata ([project.urls] in pyproject.toml), if it declares one."""
    try:
        urls = metadata.metadata("claimscrub").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    by_label = {label.strip().lower(): url.strip() for label, _, url in (u.partition(",") for u in urls)}
    return by_label.get("homepage") or by_label.get("repository") or by_label.get("documentation")
