"""Paths: which files the loader may read (``unsafe_path``), the name a file is stored under,
the department its folder implies. Part of the loader (``ingest.loader`` is the façade).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from ingest.reference import Reference
from scorecard.core.settings import Settings

# --- paths ---------------------------------------------------------------------------------------


# A stored name is "<file id>__<safe name>[.errors.json]": 255 bytes at most on every file system.
MAX_NAME_BYTES = 160


def safe_file_name(name: str) -> str:
    """A file name fit to join to our folders: no directories, no dots in front, tame characters.

    A submitted name is data, never a path ("../../etc/passwd" becomes "etc_passwd")."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").split("/")[-1]
    base = re.sub(r"[^\w.\-]+", "_", base).lstrip("._") or "file"
    if len(base.encode("utf-8")) <= MAX_NAME_BYTES:
        return base
    # Too long for a folder entry once a file id and ".errors.json" are added: keep the start and
    # the extension, and a hash of the whole name so that two long names stay apart.
    stem, dot, extension = base.rpartition(".")
    extension = extension[:16] if dot and stem else ""
    tag = "~" + hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    room = MAX_NAME_BYTES - len(tag) - (len(extension) + 1 if extension else 0)
    head = (stem if extension else base).encode("utf-8")[:room].decode("utf-8", "ignore")
    return head + tag + ("." + extension if extension else "")


def is_within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def unsafe_path(path: str | os.PathLike[str], settings: Settings, *, confine: bool = False) -> str | None:
    """Why the loader must not read ``path`` (None when it may).

    Always: a path that names a place in the inbox or processing folder but leads elsewhere (a
    ``..`` segment or a linked folder). With ``confine`` (paths that come from a request rather than
    from an operator's command line, e.g. an Airflow run's conf): any path that does not lie in the
    inbox or processing folder, and any path with a ``..`` segment.
    """
    raw = Path(path)
    folders = (settings.inbox, settings.processing)
    lexical = Path(os.path.abspath(raw))  # ".." collapsed by text, links not followed
    named_inside = any(lexical.is_relative_to(Path(os.path.abspath(folder))) for folder in folders)
    # The folder the file is in (a link as the file itself is refused later, as not a regular file).
    inside = any(is_within(raw.parent, folder) for folder in folders)
    if named_inside and not inside:
        return "it names the inbox but leads outside it"
    if ".." in raw.parts and confine:
        return "'..' in the path"
    if confine and not inside:
        return "only files in the inbox or processing folder may be loaded this way"
    return None


def infer_department(
    path: Path, settings: Settings, reference: Reference, root: Path | None = None
) -> str | None:
    """The department a file's location implies: the first folder below the root (the inbox, the
    processing folder or a folder given to ``load_paths``) or the root itself, if it is a known
    department code. A sub-folder of the root that is not a department code is returned as is,
    so that the file is refused as "unknown department" rather than guessed."""
    roots = [root] if root is not None else [settings.inbox, settings.processing]
    for candidate_root in roots:
        if candidate_root is None or not is_within(path, candidate_root):
            continue
        folders = path.resolve().parent.relative_to(candidate_root.resolve()).parts
        for name in (candidate_root.name, *folders):
            if name in reference.departments:
                return name
        return folders[0] if folders else None
    return path.parent.name if path.parent.name in reference.departments else None
