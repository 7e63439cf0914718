"""Image files under data/images/: inputs and results in separate folders, random names.

A key is "<folder>/<32 hex>.<ext>", e.g. "inputs/3f...9a.jpg". Nothing here is ever served as a
static folder: images leave only through signed URLs (signing.py, api/images.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import aiofiles.os

Folder = Literal["inputs", "results"]
FOLDERS: tuple[Folder, ...] = ("inputs", "results")
_KEY_RE = re.compile(r"^(inputs|results)/[0-9a-f]{32}\.(jpg|png)$")


class Storage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        for folder in FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / folder, 0o700)

    @staticmethod
    def is_valid_key(key: str) -> bool:
        return bool(_KEY_RE.match(key))

    def path(self, key: str) -> Path:
        if not self.is_valid_key(key):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key

    @staticmethod
    def new_key(folder: Folder, extension: str) -> str:
        return f"{folder}/{secrets.token_hex(16)}.{extension}"

    def save_sync(self, folder: Folder, extension: str, data: bytes) -> str:
        """Write atomically (temp file + fsync + rename) so that neither a kill -9 nor a power cut
        leaves half a file under a key. Blocking: call it off the event loop."""
        key = self.new_key(folder, extension)
        final = self.path(key)
        tmp = final.with_name(final.name + ".part")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        return key

    async def save(self, folder: Folder, extension: str, data: bytes) -> str:
        # the whole write in one trip to a worker thread: each separate await of aiofiles' open,
        # write, flush, fsync, close and rename was its own hand-over between threads
        return await asyncio.to_thread(self.save_sync, folder, extension, data)

    def read_sync(self, key: str) -> bytes:
        """Blocking read, for code already off the event loop (the inference thread)."""
        return self.path(key).read_bytes()

    async def read(self, key: str) -> bytes:
        return await asyncio.to_thread(self.read_sync, key)

    async def link_copy(self, key: str) -> str:
        """A second name for the same bytes (a hard link, so no copy) that a session owns: expiring
        or deleting the session removes only its own name. Raises FileNotFoundError if `key` is gone."""
        src = self.path(key)
        new = self.new_key("inputs", src.suffix.lstrip("."))
        try:
            await aiofiles.os.link(src, self.path(new))
        except FileNotFoundError:
            raise
        except OSError:  # a file system without hard links
            await asyncio.to_thread(_copy, src, self.path(new))
        # a link keeps the photo's old mtime; the orphan sweep's age guard must see a new file
        await asyncio.to_thread(os.utime, self.path(new))
        return new

    async def delete(self, keys: Iterable[str | None]) -> None:
        for key in keys:
            if key and self.is_valid_key(key):
                try:
                    await aiofiles.os.remove(self.path(key))
                except FileNotFoundError:
                    pass

    def sweep_orphans(self, referenced: set[str], min_age_s: float = 600.0) -> list[str]:
        """Delete files no row references (and leftover .part files), older than `min_age_s` so
        that an upload between its file write and its row commit is never swept. Sync: run it in
        a thread."""
        removed: list[str] = []
        cutoff = time.time() - min_age_s
        for folder in FOLDERS:
            for entry in os.scandir(self.root / folder):
                key = f"{folder}/{entry.name}"
                if key in referenced or not entry.is_file():
                    continue
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.remove(entry.path)
                        removed.append(key)
                except FileNotFoundError:
                    pass
        return removed

    def all_keys(self) -> set[str]:
        return {f"{folder}/{e.name}" for folder in FOLDERS for e in os.scandir(self.root / folder) if e.is_file()}


def _copy(src: Path, dst: Path) -> None:
    with open(src, "rb") as r, open(dst, "wb") as w:
        w.write(r.read())
