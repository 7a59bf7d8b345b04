"""The landing location: which export files are there, and which of them are new.

A file is new when its identity has not been read before. The identity is its size, its modification time
(full precision) and, where the filesystem has one, the object generation or etag (GCS, S3). Time alone does
not decide: a file moved in with an older modification time (``mv``, ``cp -p``, ``rsync -a``, an upload
that keeps times) is still new, and a rewritten file (same path, new content) is read again.

The identities read so far live in the source's dlt state (committed with the Bronze load, so a crash never
marks a file read that did not land); ``raw_crm.files`` records each read file version with its identity.
"""

from __future__ import annotations

import glob
import os
import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dlt.common.configuration.specs import GcpServiceAccountCredentials
from dlt.common.storages.configuration import FilesystemConfiguration
from dlt.common.storages.fsspec_filesystem import GCS_PROTOCOLS, MTIME_DISPATCH, fsspec_from_config


@dataclass(frozen=True)
class LandingFile:
    """One file version in the landing location."""

    url: str
    relative_path: str
    size: int
    modified_at: datetime  # UTC, microseconds
    generation: str = ""  # object generation / etag where the filesystem has one

    @property
    def identity(self) -> str:
        return f"{self.size}:{self.modified_us}:{self.generation}"

    @property
    def modified_us(self) -> int:
        return int(self.modified_at.timestamp()) * 1_000_000 + self.modified_at.microsecond


def landing_fs(landing_url: str, credentials: Any = None) -> Any:
    """The fsspec filesystem of ``landing_url`` (dlt's, as its filesystem destination builds one). A bucket without
    ``credentials`` is read with the environment's Google credentials (ADC, as on Composer), looked up only then:
    a local folder never pays for the look-up."""
    config = FilesystemConfiguration(landing_url, credentials)
    if credentials is None and config.protocol in GCS_PROTOCOLS:
        config.credentials = _default_google_credentials(landing_url)
    return fsspec_from_config(config)[0]


def _default_google_credentials(landing_url: str) -> GcpServiceAccountCredentials:
    credentials = GcpServiceAccountCredentials()
    credentials.on_partial()  # dlt's look-up of application default credentials
    if not credentials.is_resolved():
        raise LandingCredentialsError(
            f"no credentials to read the CRM landing location '{landing_url}': set sources.crm.credentials (a "
            "service-account key, in .dlt/secrets.toml) or the environment's Google credentials "
            "(GOOGLE_APPLICATION_CREDENTIALS, or gcloud auth application-default login)"
        )
    return credentials


class LandingCredentialsError(ValueError):
    """A bucket landing location without credentials, and none in the environment."""


def list_files(fs: Any, landing_url: str, globs: list[str]) -> list[LandingFile]:
    """Every file under ``landing_url`` matching any of ``globs`` (relative, ``**`` for sub-folders), by path."""
    found: dict[str, LandingFile] = {}
    for pattern in globs:
        for f in _glob(fs, landing_url, pattern):
            found.setdefault(f.relative_path, f)
    return [found[k] for k in sorted(found)]


def sample_names(fs: Any, landing_url: str, limit: int = 5) -> tuple[int, list[str]]:
    """How many files the landing location holds (any name, any depth) and a few of their paths."""
    files = list_files(fs, landing_url, ["**/*"])
    return len(files), [f.relative_path for f in files[:limit]]


def _glob(fs: Any, landing_url: str, pattern: str) -> list[LandingFile]:
    if FilesystemConfiguration.is_local_path(landing_url) or landing_url.startswith("file://"):
        root = Path(FilesystemConfiguration.make_local_path(landing_url) if "://" in landing_url else landing_url)
        out = []
        for path in glob.glob(str(root / pattern), recursive=True):
            if os.path.isdir(path):
                continue
            # a dangling link is listed (reading it fails, and that file is quarantined with the reason)
            st = os.stat(path) if os.path.exists(path) else os.lstat(path)
            us = st.st_mtime_ns // 1000
            modified = datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)
            rel = Path(path).relative_to(root).as_posix()
            out.append(LandingFile(Path(os.path.abspath(path)).as_uri(), rel, st.st_size, modified))
        return out
    scheme = landing_url.partition("://")[0]
    root = fs._strip_protocol(landing_url)
    out = []
    for path, md in fs.glob(posixpath.join(root, pattern), detail=True).items():
        if md.get("type") != "file":
            continue
        modified = MTIME_DISPATCH[scheme](md).astimezone(UTC)
        generation = str(md.get("generation") or md.get("etag") or md.get("ETag") or "")
        rel = posixpath.relpath(path, root)
        out.append(LandingFile(f"{scheme}://{path}", rel, int(md.get("size") or 0), modified, generation))
    return out
