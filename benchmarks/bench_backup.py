"""Compression throughput of the backup stream: the optimized profile's zstd sink (`backup.dump`)."""

from __future__ import annotations

import tempfile

from benchmarks import skip_if_missing

try:
    from system_under_test.backup.dump import BackupOptions, _Sink
    from system_under_test.data.generator import generate_properties, property_records

    MISSING: ImportError | None = None
except ImportError as exc:  # a commit older than these modules
    MISSING = exc

CHUNK = 1 << 20


def dump_like_bytes(target_bytes: int) -> bytes:
    """Tab-separated generated property rows (the shape of pg_dump's COPY data), `target_bytes` long."""
    parts: list[bytes] = []
    size = 0
    chunk_index = 0
    while size < target_bytes:
        rows = property_records(generate_properties(seed=42, chunk_index=chunk_index, count=5000))
        text = ("\n".join("\t".join("\\N" if v is None else str(v) for v in row) for row in rows) + "\n").encode()
        parts.append(text)
        size += len(text)
        chunk_index += 1
    return b"".join(parts)[:target_bytes]


def compress(data: bytes, options: BackupOptions) -> int:
    """Stream `data` through the backup sink in 1 MiB chunks; return the compressed size (the optimized
    sink compresses in its own process, which writes the file)."""
    with tempfile.TemporaryFile() as handle:
        sink = _Sink(handle, options)
        view = memoryview(data)
        for start in range(0, len(data), CHUNK):
            sink.feed(view[start : start + CHUNK])
        sink.finish()
        return sink.bytes_written


class BackupCompressionSuite:
    """16 MB of dump-shaped data through the zstd sink (level 3, all cores).

    Throughput is 16 MB / `time_compress_16mb`; asv treats every figure as lower-is-better, so no
    MB/s `track_` (it would be reported backwards).
    """

    timeout = 120.0

    def setup(self) -> None:
        skip_if_missing(MISSING)
        self.data = dump_like_bytes(16_000_000)
        self.options = BackupOptions(profile="optimized")

    def time_compress_16mb(self) -> None:
        compress(self.data, self.options)

    def track_compression_ratio(self) -> float:
        return compress(self.data, self.options) / len(self.data)

    track_compression_ratio.unit = "compressed/raw"  # type: ignore[attr-defined]
