"""Where the lake lives: a local folder or an ``s3://bucket/prefix`` URL.

::

    storage = LakeStorage.at("s3://acme-lake/xdm")      # or LakeStorage.at("/srv/lake")
    storage.table_uri("acme", "profiles")              # 's3://acme-lake/xdm/acme/profiles'
    storage.write_bytes("_batches/3f2a.json", b"{}")
    storage.upload(Path("part-00000.parquet"), "_staging/acme/profiles/3f2a/part-00000.parquet")

Files are reached through Arrow's file systems (the local one, or S3), the Delta tables
through delta-rs with the same location. Credentials, region and endpoint of S3 come from
the standard AWS environment variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_REGION``, ``AWS_ENDPOINT_URL``, ``AWS_ALLOW_HTTP``) that both read themselves: no
secret passes through the product, so none can reach its store, logs or answers.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.fs as pafs

from xdm_connector.errors import DestinationError, InvalidInput

S3_URL = re.compile(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9_.=/-]*)?")
"""An S3 lake: a bucket and an optional prefix, no credentials, no query."""

TRANSIENT_ERRNOS = frozenset(
    {
        errno.EAGAIN,
        errno.EBUSY,
        errno.EDQUOT,
        errno.EINTR,
        errno.EIO,
        errno.EMFILE,
        errno.ENFILE,
        errno.ENOMEM,
        errno.ENOSPC,
        errno.ESTALE,
        errno.ETIMEDOUT,
    }
)
"""File system failures that may pass (a full disk, a lost mount); others (a file where a
folder should be, a missing permission) fail the job at once."""


def check_lake_url(url: str) -> str:
    """``url`` if it names a lake: an absolute local path or an ``s3://bucket/prefix``."""
    if url.startswith("s3://"):
        if not S3_URL.fullmatch(url) or ".." in url or "//" in url[5:]:
            raise InvalidInput(
                f"lake URL {url!r} must be s3://bucket/prefix (bucket in lower case, the "
                "prefix of letters, digits and . _ = - /; credentials come from the "
                "environment, never the URL)"
            )
        return url.rstrip("/")
    if "://" in url:
        raise InvalidInput(f"lake URL {url!r}: only a local path or s3://bucket/prefix")
    return url


@dataclass(frozen=True)
class LakeStorage:
    """The lake's root on one file system; paths below it are relative, with ``/``."""

    url: str
    """``s3://bucket/prefix``, or an absolute local folder."""
    filesystem: pafs.FileSystem
    base: str
    """The root as the file system names it (``bucket/prefix``, ``/srv/lake``)."""

    @classmethod
    def at(cls, location: str | Path) -> LakeStorage:
        """The storage of a lake URL or local folder."""
        text = check_lake_url(str(location))
        if text.startswith("s3://"):
            try:
                filesystem, base = pafs.FileSystem.from_uri(text)
            except (pa.ArrowException, OSError) as exc:
                raise DestinationError(f"the lake at {text} cannot be opened: {exc}") from exc
            return cls(text, filesystem, base.rstrip("/"))
        root = Path(text).resolve()
        return cls(str(root), pafs.LocalFileSystem(), str(root))

    @property
    def local(self) -> bool:
        """Whether the lake is a folder of this machine."""
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def table_uri(self, org: str, dataset: str) -> str:
        """The location of a dataset's Delta table, as delta-rs and other readers open it."""
        return f"{self.url}/{org}/{dataset}"

    def path(self, relative: str) -> str:
        """A path below the root as the file system names it."""
        return f"{self.base}/{relative}" if relative else self.base

    def local_path(self, relative: str) -> Path:
        """A path below a local root (only for a local lake)."""
        return Path(self.path(relative))

    def read_bytes(self, relative: str) -> bytes | None:
        """A file's bytes; None when there is no such file."""
        with lake_errors():
            if self.local:
                try:
                    return self.local_path(relative).read_bytes()
                except FileNotFoundError:
                    return None
            try:
                with self.filesystem.open_input_stream(self.path(relative)) as stream:
                    data: bytes = stream.read()
                    return data
            except FileNotFoundError:
                return None

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write a whole file so that a reader sees the old or the new one, never a part."""
        with lake_errors():
            if self.local:
                path = self.local_path(relative)
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
                temporary.write_bytes(data)
                fsync(temporary)
                os.replace(temporary, path)
                fsync(path.parent)
                return
            # An object store replaces an object whole: no temporary is needed.
            with self.filesystem.open_output_stream(self.path(relative)) as stream:
                stream.write(data)

    def upload(self, source: Path, relative: str) -> None:
        """Put a local file at ``relative``, replacing one of that name. Locally a second
        name for the same bytes (nothing is copied); the caller never writes to the file
        again, it may only remove it."""
        with lake_errors():
            if self.local:
                target = self.local_path(relative)
                target.parent.mkdir(parents=True, exist_ok=True)
                temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
                try:
                    os.link(source, temporary)
                except OSError:
                    shutil.copyfile(source, temporary)
                fsync(temporary)
                os.replace(temporary, target)
                return
            pafs.copy_files(
                str(source),
                self.path(relative),
                source_filesystem=pafs.LocalFileSystem(),
                destination_filesystem=self.filesystem,
            )

    def move(self, source: str, target: str) -> None:
        """Move a file (a rename locally, a copy then a delete in an object store)."""
        with lake_errors():
            if self.local:
                self.local_path(target).parent.mkdir(parents=True, exist_ok=True)
                os.rename(self.local_path(source), self.local_path(target))
                return
            self.filesystem.move(self.path(source), self.path(target))

    def files(self, relative: str) -> list[pafs.FileInfo]:
        """The files right in a folder (none when it does not exist), by name."""
        with lake_errors():
            selector = pafs.FileSelector(self.path(relative), allow_not_found=True)
            found = self.filesystem.get_file_info(selector)
        return sorted(
            (info for info in found if info.type == pafs.FileType.File),
            key=lambda info: info.base_name,
        )

    def folders(self, relative: str) -> list[str]:
        """The names of the folders right in a folder (none when it does not exist)."""
        with lake_errors():
            selector = pafs.FileSelector(self.path(relative), allow_not_found=True)
            found = self.filesystem.get_file_info(selector)
        return sorted(info.base_name for info in found if info.type == pafs.FileType.Directory)

    def exists(self, relative: str) -> bool:
        """Whether a file or folder is at ``relative``."""
        with lake_errors():
            info = self.filesystem.get_file_info(self.path(relative))
        return bool(info.type != pafs.FileType.NotFound)

    def delete(self, relative: str) -> None:
        """Remove a file; nothing when it is already gone."""
        self._remove(self.filesystem.delete_file, relative)

    def delete_folder(self, relative: str) -> None:
        """Remove a folder and everything in it; nothing when it is already gone."""
        self._remove(self.filesystem.delete_dir, relative)

    def _remove(self, remove: Callable[[str], None], relative: str) -> None:
        with lake_errors(), suppress(FileNotFoundError):
            remove(self.path(relative))

    def relative(self, info: pafs.FileInfo) -> str:
        """The path below the root of a file the file system listed."""
        return str(PurePosixPath(info.path).relative_to(self.base))


@contextmanager
def lake_errors(batch_id: str = "") -> Iterator[None]:
    """Storage failures as ``DestinationError``, transient when they may pass."""
    try:
        yield
    except DestinationError:
        raise
    except OSError as exc:
        transient = exc.errno in TRANSIENT_ERRNOS if exc.errno is not None else True
        raise DestinationError(
            f"the lake failed{f' on batch {batch_id}' if batch_id else ''}: {exc}",
            batch_id=batch_id,
            transient=transient,
        ) from exc


def fsync(path: Path) -> None:
    """Flush a file's or a folder's content to disk, so a rename never outlives its data."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
