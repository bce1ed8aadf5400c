"""The one place l3sim writes result files: checked before a run, written whole or not at all.

- :func:`check_writable` runs before any simulation: it walks up to the nearest
  existing folder and refuses (as :class:`~l3sim.errors.OutputError`) a path
  under a regular file, a name longer than the file system allows, or a folder
  this user cannot write; it creates nothing, so bad input leaves no trace.
- :func:`atomic_write` writes through a temporary file in the target folder,
  fsyncs it, gives it the mode a plain ``open`` would (``0o666`` less the
  umask, not ``mkstemp``'s 0600) and renames it over the target: a crash, a
  full disk or a write error leaves the old file or none, never a partial one,
  and the temporary file is removed. Any ``OSError`` becomes an OutputError
  naming the file.

Temporary names are ``.tmp-<host>-<pid>-<random>`` (:func:`tempfile.mkstemp`),
unique per call; :func:`stale_temp_files` lists only those whose writer is gone
(a process of this host that no longer runs), so a cleanup by one process never
deletes another's file in flight.
"""

from __future__ import annotations

import errno
import os
import socket
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from l3sim.errors import OutputError

TMP_PREFIX = ".tmp-"


def _limit(folder: Path, name: str, default: int) -> int:
    """A file-system limit (``PC_NAME_MAX``, ``PC_PATH_MAX``) of ``folder``, or ``default``."""
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError, AttributeError):  # not POSIX, or the file system does not say
        return default


def check_writable(path: str | Path, what: str, folder: bool = False) -> Path:
    """Raise OutputError unless ``path`` (a file, or a folder with ``folder``) can be created or replaced.

    Nothing is created. Parents that do not exist yet are fine if the nearest existing one is a
    writable folder.
    """
    path = Path(path)
    try:
        if path.exists() and path.is_dir() != folder:
            kind = "a folder" if path.is_dir() else "a file"
            raise OutputError(f"{what} {path}: is {kind}, expected {'a folder' if folder else 'a file'}")
        ancestor = path.absolute()
        missing: list[str] = [] if path.exists() and folder else [ancestor.name]
        ancestor = ancestor if path.exists() and folder else ancestor.parent
        while not ancestor.exists():
            missing.append(ancestor.name)
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise OutputError(f"{what} {path}: {ancestor} is not a folder")
        limit = _limit(ancestor, "PC_NAME_MAX", 255)
        too_long = [name for name in missing if len(os.fsencode(name)) > limit]
        if too_long:
            raise OutputError(f"{what} {path}: name {too_long[0][:40]!r}... is longer than {limit} bytes")
        path_limit = _limit(ancestor, "PC_PATH_MAX", 4096)
        if len(os.fsencode(str(path.absolute()))) >= path_limit:
            raise OutputError(f"{what} {str(path)[:60]}...: the path is longer than {path_limit} bytes")
        if not os.access(ancestor, os.W_OK | os.X_OK):
            raise OutputError(f"{what} {path}: folder {ancestor} is not writable")
    except OSError as exc:  # a symlink loop or an unreadable parent on the way up
        raise OutputError(f"{what} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL byte in the name
        raise OutputError(f"{what} {str(path)!r}: not a valid file name ({exc})") from None
    return path


def make_dir(path: str | Path, what: str) -> Path:
    """Create the folder ``path`` (and its parents) after :func:`check_writable`."""
    path = check_writable(path, what, folder=True)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{what} {path}: cannot create the folder: {exc.strerror or exc}") from None
    return path


def _default_mode() -> int:
    """What ``open(path, "w")`` would give a new file: 0o666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_prefix() -> str:
    return f"{TMP_PREFIX}{socket.gethostname()}-{os.getpid()}-"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists but belongs to another user, or the platform cannot say
        return True
    return True


def stale_temp_files(folder: Path) -> Iterator[Path]:
    """Temporary files in ``folder`` left by a writer that died (kill -9, power loss) on this host.

    A name without host and pid (an older l3sim) counts as stale; a file of another host is never
    touched, since whether its writer still runs cannot be known here.
    """
    host = socket.gethostname()
    for path in folder.glob(f"{TMP_PREFIX}*"):
        owner, _, rest = path.name[len(TMP_PREFIX):].rpartition("-")
        owner_host, _, pid = owner.rpartition("-")
        if not pid.isdigit():
            yield path
        elif owner_host == host and not _process_alive(int(pid)):
            yield path


def atomic_write(path: str | Path, write: Callable[[Path], object], what: str = "output") -> Path:
    """Call ``write(tmp_path)`` to produce the file, fsync it, give it the default mode, rename it to ``path``."""
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=_temp_prefix(), suffix=path.suffix, dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        write(tmp)
        os.chmod(tmp, _default_mode())
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        reason = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise OutputError(f"{what} {path}: cannot write: {reason}") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return path


def write_text(path: str | Path, text: str, what: str = "output") -> Path:
    """:func:`atomic_write` of UTF-8 ``text``."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), what)


def save_figure(figure: object, path: str | Path, **options: object) -> Path:
    """:func:`atomic_write` of a matplotlib figure; the format comes from ``path``'s suffix."""
    path = Path(path)
    return atomic_write(path, lambda tmp: figure.savefig(tmp, format=path.suffix[1:] or "png", **options))  # type: ignore[attr-defined]
