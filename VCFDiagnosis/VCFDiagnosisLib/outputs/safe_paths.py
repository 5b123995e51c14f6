"""File names from untrusted text (case ids, series descriptions), and output folders that stay where they belong.

Rules (one definition used by ``run``, the batch runner, the Logic and the web front end):

* :func:`case_folder_name` maps a case id to a folder/file stem that is safe on Linux, macOS and Windows and
  **injective**: an id that is already a plain name (``[A-Za-z0-9][A-Za-z0-9._-]*``, at most 64 characters, not
  a reserved device name) is used as it is; any other id becomes a readable ASCII slug plus ``~`` and 12 hex
  digits of the SHA-256 of the id. ``~`` never occurs in a plain name, so two different ids never share a
  folder (up to a 48-bit hash collision). Case-insensitive file systems could still fold ``P1``/``p1``
  together: :func:`folder_key` is what callers compare to refuse such a pair.
* :func:`path_inside` returns a child path and raises if it would resolve outside its folder (defence in depth:
  every output path is built from a safe name *and* checked).
* :func:`staged_case_folder` builds a case folder next to its final place and swaps it in atomically, so a
  reader never sees a half-written case and ``--force`` never leaves the previous case's files beside the new.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SLUG_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]+")
SLUG_MAX = 40
HASH_DIGITS = 12
WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
#: Prefix of the staging folders of :func:`staged_case_folder` (and :mod:`.atomic`); removed on every exit path.
STAGING_PREFIX = ".partial-"
#: The marker a finished case folder holds (written last, inside the staged folder).
CASE_MARKER = "case.json"


def is_plain_name(text: str) -> bool:
    """Return True if ``text`` can be used as a file name as it is (see the module rules)."""
    return (bool(PLAIN_NAME.fullmatch(text)) and not text.endswith(".")
            and text.split(".")[0].lower() not in WINDOWS_RESERVED)


def case_folder_name(case_id: str) -> str:
    """Return the folder (and file stem) name of a case id: the id itself if plain, else ``slug~hash``."""
    text = str(case_id)
    if is_plain_name(text):
        return text
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = SLUG_CHARACTERS.sub("_", ascii_text).strip("._-")[:SLUG_MAX].rstrip("._-") or "case"
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_DIGITS]
    return f"{slug}~{digest}"


def folder_key(name: str) -> str:
    """Return the key under which two folder names collide on a case-insensitive file system."""
    return unicodedata.normalize("NFC", name).casefold()


def path_inside(folder: str | os.PathLike, *parts: str) -> Path:
    """Return ``folder/parts...`` resolved; raise ValueError if it is not strictly inside ``folder``."""
    root = Path(folder).resolve()
    target = root.joinpath(*parts).resolve()
    if target == root or root not in target.parents:
        raise ValueError(f"{root.joinpath(*parts)}: refusing to write outside the output folder {root}")
    return target


def is_case_folder(folder: Path, marker: str = CASE_MARKER) -> bool:
    """Return True if ``folder`` is a folder this program wrote (it holds ``marker``, by default :data:`CASE_MARKER`)."""
    return (Path(folder) / marker).is_file()


def check_replaceable(folder: Path, replace: bool, marker: str = CASE_MARKER) -> None:
    """Raise FileExistsError unless ``folder`` is absent, empty, or a case folder we may replace (``replace``).

    A non-empty folder that this program did not write is never replaced, ``--force`` or not: ``run --force
    --out ~`` must not delete a home folder.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder}: exists and is not a folder")
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    if not is_case_folder(folder, marker):
        raise FileExistsError(f"{folder}: not empty and not a VCFDiagnosis case folder (no {marker}); "
                              "choose an empty or new output folder")
    if not replace:
        raise FileExistsError(f"{folder}: holds a finished case; use --force (overwrite=True) to replace it")


def probe_writable(target: str | os.PathLike) -> None:
    """Raise OSError naming ``target`` unless a case folder can be created there (checked before long work)."""
    target = Path(target).resolve()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target.parent))
    except OSError as error:
        raise OSError(error.errno, f"cannot write the output folder here ({error.strerror or error})",
                      str(target)) from None


@contextlib.contextmanager
def staged_case_folder(target: str | os.PathLike, replace: bool = False,
                       marker: str = CASE_MARKER) -> Iterator[Path]:
    """Yield an empty staging folder beside ``target``; on success swap it in as ``target`` atomically.

    ``target`` may be absent, an empty folder, or (with ``replace``) a case folder written earlier, which is
    replaced whole (none of its files survive beside the new ones); a folder is ours if it holds ``marker``. On any exception, KeyboardInterrupt
    included, the staging folder is removed and ``target`` is left as it was.
    """
    target = Path(target).resolve()
    check_replaceable(target, replace, marker)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{target.name[:60]}-", dir=target.parent))
    try:
        yield staging
        check_replaceable(target, replace, marker)  # nothing else took the place meanwhile
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}old-", dir=target.parent))
            os.replace(target, old / "case")
            try:
                os.replace(staging, target)
            except BaseException:
                os.replace(old / "case", target)
                raise
            finally:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(folder: str | os.PathLike) -> list[str]:
    """Remove staging folders/files an interrupted earlier run left directly in ``folder``; return their names.

    Call only while holding the folder's lock (see :mod:`.batch`), so no running job's staging is removed.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        if entry.name.startswith(STAGING_PREFIX):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed
