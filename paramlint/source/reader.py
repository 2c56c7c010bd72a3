"""The one guarded reader: every file paramlint opens goes through ``read_guarded``.

Configs, both sides of ``diff``, ``pyproject.toml``, ``.paramlint.toml`` and
``--config`` come from a repository nobody vetted, so a committed symlink to
``/dev/zero``, a named pipe or a 100 GB file must cost nothing.  The file is
checked with ``stat`` before it is opened, opened without blocking, checked
again with ``fstat`` (the path may have been replaced), and read up to the
limit plus one byte (a file that grows while read is still refused).
"""
from __future__ import annotations

import errno
import os
import stat

__all__ = ["TooLarge", "read_guarded", "read_head", "referenced_path"]


class TooLarge(Exception):
    """A file over the size limit, found before reading it (or while reading it, when it grew)."""


def read_guarded(path: str, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``.

    Raises ``OSError`` (the reason in ``strerror``: a folder, a FIFO, a
    socket or a device is refused unread) or ``TooLarge``.
    """
    data = _read(path, max_bytes, max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(f"the file has more than {max_bytes} bytes, the limit")
    return data


def read_head(path: str, head_bytes: int) -> bytes:
    """At most the first ``head_bytes`` bytes of a regular file of any size (same guards)."""
    return _read(path, None, head_bytes)


def _read(path: str, max_bytes: "int | None", budget: int) -> bytes:
    _check_regular(os.stat(path), max_bytes)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        _check_regular(os.fstat(fd), max_bytes)
        chunks = []
        remaining = budget
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def referenced_path(config_path: str, reference: str) -> str:
    """The file a config names (``huggingface: ./config.json``), relative to the config's folder.

    A pull request may name any path, so the reference must stay inside the
    folder paramlint runs in (the repository, under pre-commit and CI) or the
    config's own folder, symlinks followed: ``/etc/passwd``,
    ``/proc/self/environ`` or ``../../secrets.json`` are refused unread with an
    ``OSError`` that says why.
    """
    target = os.path.normpath(os.path.join(os.path.dirname(config_path), reference))
    real = os.path.realpath(target)
    roots = {os.path.realpath(os.getcwd()), os.path.realpath(os.path.dirname(config_path) or ".")}
    if not any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
        raise OSError(errno.EACCES, "it is outside the folder paramlint runs in and the config's own folder "
                                    "(a config may name only files of its repository)")
    return target


def _check_regular(info: os.stat_result, max_bytes: "int | None") -> None:
    if stat.S_ISDIR(info.st_mode):
        raise OSError(errno.EISDIR, "is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise OSError(errno.EINVAL, f"is not a regular file (it is a {_file_kind(info.st_mode)})")
    if max_bytes is not None and info.st_size > max_bytes:
        raise TooLarge(f"the file has {info.st_size} bytes, over the limit of {max_bytes}")


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device")):
        if test(mode):
            return kind
    return "special file"
