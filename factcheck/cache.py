"""Where factcheck keeps derived files, and how it writes them without leaving half-files.

Everything written here is either complete or absent: files go to a temporary
name in the same directory and are renamed into place, directories likewise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from factcheck.display import is_utf8_text

from factcheck.errors import SettingError


def default_cache_root() -> Path:
    """Where the cache lies without FACTCHECK_CACHE: $XDG_CACHE_HOME/factcheck, else ~/.cache/factcheck (RuntimeError
    where no home folder can be found)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "factcheck"


def cache_root() -> Path:
    """The cache directory: $FACTCHECK_CACHE, else $XDG_CACHE_HOME/factcheck, else ~/.cache/factcheck."""
    explicit = os.environ.get("FACTCHECK_CACHE")
    xdg = os.environ.get("XDG_CACHE_HOME")
    given = f"FACTCHECK_CACHE={explicit!r}" if explicit else f"XDG_CACHE_HOME={xdg!r}" if xdg else "~/.cache"
    try:
        root = Path(explicit).expanduser() if explicit else default_cache_root()
    except RuntimeError as error:  # "~user" of no such user, or no HOME and no passwd entry (a container's --user)
        raise SettingError(f"the cache folder {given} cannot be found ({error}): set FACTCHECK_CACHE to an absolute "
                           "path of a writable folder") from None
    if not is_utf8_text(str(root)):
        raise SettingError(f"the cache folder {given} has bytes in its path that are not UTF-8 text, which the model "
                           "and LRE files cannot be opened under: set FACTCHECK_CACHE to a folder whose path is UTF-8")
    return root


class FactcheckWarning(UserWarning):
    """Something factcheck worked around (a damaged or unwritable cache entry): said, never fatal."""


def warn(message: str) -> None:
    """Say `message` as a warning that the user's warning filters cannot turn into an error (`-W error`,
    `filterwarnings = error`): what factcheck worked around must not stop the run."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always", FactcheckWarning)
        warnings.warn(message, FactcheckWarning, stacklevel=3)


_UNWRITABLE_SAID: set[str] = set()


def store_or_warn(write, what: str, folder: Path) -> bool:
    """Run `write` (which stores derived data under `folder`); where the folder cannot be written (read-only, full,
    not ours), say so once per cache (or folder outside it) and go on: the data is used from memory this run. Returns
    whether it stored."""
    try:
        write()
        return True
    except OSError as error:
        root = cache_root()
        said_for = str(root if Path(folder).is_relative_to(root) else folder)
        if said_for not in _UNWRITABLE_SAID:
            _UNWRITABLE_SAID.add(said_for)
            warn(f"factcheck: cannot write {what} to the cache folder {folder} ({error.strerror or error}); what "
                 "factcheck keeps there is computed and used from memory for this run only (set FACTCHECK_CACHE to a "
                 "writable folder to keep it)")
        return False


def file_kind(mode: int) -> str:
    """What a path that is no regular file is, from its st_mode ("a FIFO (named pipe)")."""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def current_umask() -> int:
    """The process's umask, read without changing it where Linux says it (/proc/self/status): setting it to read it
    would give a file another thread makes meanwhile the modes 0666 or 0777."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0)
    os.umask(current)
    return current


def unwritable_reason(path: Path) -> str | None:
    """Why `path` could not be written as a file by write_bytes_atomic (None: it can): checked before a run, so
    that an output the run cannot write fails at once, not after every fact has run."""
    try:
        if path.is_dir():
            return "it is a directory"
        if path.exists() and not path.is_file():
            # A FIFO or a device would be replaced by the file (as root, even /dev/null): never written over.
            return f"it is {file_kind(path.stat().st_mode)}, not a regular file"
        folder = path.parent
        while not folder.exists():  # write_bytes_atomic makes missing folders: the first existing one must take them
            folder = folder.parent
        if not folder.is_dir():
            return f"{folder} is not a directory"
    except OSError as error:  # e.g. a parent folder that may not be searched
        return error.strerror or str(error)
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable"
    # Root passes every access check, also on a read-only mount or in /proc: make (and remove) a file there, as the
    # atomic write will.
    try:
        handle, probe = tempfile.mkstemp(prefix=".factcheck-probe.", dir=folder)
    except OSError as error:
        return f"the folder {folder} takes no new file ({error.strerror or error})"
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return None


def temporary_prefix(name: str) -> str:
    """The prefix of a hidden temporary file or folder written beside `name`: the name itself, cut so that the
    temporary name stays under the file system's limit (255 bytes) however long the final one is."""
    # As the file system's bytes: a name that is no UTF-8 (Python keeps its bytes as surrogates) is cut as well.
    return f".{os.fsdecode(os.fsencode(name)[:_NAME_BYTES_KEPT_IN_TEMPORARY])}."


_NAME_BYTES_KEPT_IN_TEMPORARY = 96  # with mkstemp's 8 random characters and a short suffix, well under 255 bytes


def discard_entry(path: Path) -> None:
    """Remove a damaged cache entry, also a folder that stands where an entry's file belongs (derived data, under the
    entry's own name); a cache that cannot be written keeps it, and the entry is computed again each time."""
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def give_the_owner_of(replaced: os.stat_result, new_file: str | Path) -> None:
    """Give the file that replaces another that file's owner, where this process may (root in a CI container, sudo):
    a suite or baseline of a mounted checkout stays its owner's to edit."""
    if (replaced.st_uid, replaced.st_gid) != (os.geteuid(), os.getegid()):
        with contextlib.suppress(OSError):
            os.chown(new_file, replaced.st_uid, replaced.st_gid)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one. A file replaced keeps its
    permissions (and its owner, where this process may give it); a link at `path` is replaced, never followed (one planted in an output folder must not redirect the
    write: a caller that means the file a link names resolves the path first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    replaced = path.stat() if path.is_file() and not path.is_symlink() else None
    mode = stat.S_IMODE(replaced.st_mode) if replaced else 0o666 & ~current_umask()
    fd, tmp_name = tempfile.mkstemp(prefix=temporary_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the permissions the file had, or a plain open() would give.
        os.chmod(tmp_name, mode)
        if replaced:
            give_the_owner_of(replaced, tmp_name)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, document: object) -> None:
    write_text_atomic(path, json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


_SCRATCH_SUFFIX = ".partial"


def remove_abandoned_scratch(final: Path) -> list[Path]:
    """Delete scratch folders for `final` whose writer, a process on this host, no longer runs.

    `atomic_directory` cleans up after errors and Ctrl-C, but a process killed
    outright (SIGKILL, out of memory) leaves its scratch folder behind. Folders
    of running processes and of other hosts are left alone.
    """
    final = Path(final)
    host = socket.gethostname()
    removed: list[Path] = []
    if not final.parent.is_dir():
        return removed
    lead = temporary_prefix(final.name)
    for entry in final.parent.iterdir():
        name = entry.name
        if not (name.startswith(lead) and name.endswith(_SCRATCH_SUFFIX) and entry.is_dir()):
            continue
        parts = name[len(lead) : -len(_SCRATCH_SUFFIX)].rsplit(".", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if _process_running(int(parts[1])):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def scratch_folder(final: Path) -> Path:
    """A new private folder beside `final` to build it in. Host and process id in its name let
    `remove_abandoned_scratch` tell a killed writer's leftovers from live work."""
    prefix = f"{temporary_prefix(final.name)}{socket.gethostname()}.{os.getpid()}."
    return Path(tempfile.mkdtemp(prefix=prefix, suffix=_SCRATCH_SUFFIX, dir=final.parent))


def _process_running(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill(pid, 0) would signal the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists but belongs to someone else, or cannot tell: keep its folder
    return True


def usual_permissions(folder: Path) -> None:
    """mkdtemp makes a private folder: give it, and the files written in it, the permissions a plain mkdir and open
    would have (a cache warmed by root in a container image is read by other users)."""
    umask = current_umask()
    folder.chmod(0o777 & ~umask)
    for entry in folder.iterdir():
        if entry.is_file() and not entry.is_symlink():
            entry.chmod(0o666 & ~umask)


@contextlib.contextmanager
def atomic_directory(final: Path) -> Iterator[Path]:
    """Yield a scratch directory that becomes `final` only if the block completes.

    If another process published `final` first, ours is discarded and theirs kept:
    both were built from the same inputs, so either is right.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = scratch_folder(final)
    try:
        yield scratch
        usual_permissions(scratch)
        try:
            os.rename(scratch, final)
        except OSError:
            if not final.is_dir():
                raise
            shutil.rmtree(scratch, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
