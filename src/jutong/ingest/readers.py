"""Reading a department's file into batches (文件读取): CSV/TSV, XLSX, JSON and NDJSON.

The format is recognised by the content, not the name. Every reader yields ``polars.DataFrame``
batches of at most ``batch_rows`` rows: one ``pl.String`` column per source column, named by the
source's header (trimmed, NFKC-normalised, a trailing ``*`` "required" mark removed), empty
cells as null, plus ``_row`` (``pl.Int64``), the row number a person sees in the source:

- CSV/TSV: the physical line in the file where the record starts (the header is line 1). A
  quoted field with line breaks makes its record span several lines; the record is numbered by
  its first line and the next record by its own first line, so numbers always match an editor.
  Blank lines (and rows whose cells are all empty) are skipped; the numbers of other rows stay.
- XLSX: the Excel row number.
- JSON/NDJSON: the 1-based index of the record.

CSV/TSV and NDJSON are streamed: the file is read in byte chunks (``chunk_bytes``, 32 MiB by
default) cut at the last line end outside double quotes, each chunk decoded and parsed by polars
on its own, so memory stays flat however big the file. The encoding is detected once from the
first chunk (BOM → ``UTF-8 (BOM)``, valid UTF-8 → ``UTF-8``, else ``GB18030``, a superset of GBK
and GB2312); a later chunk that does not decode is an error naming its line (mixed encodings).
When everything up to a chunk was plain ASCII the file is still undecided, so a GBK file whose
first chunk has no Chinese is recognised at its first Chinese character (``info.encoding`` is
updated then).

A thread reads, cuts and decodes the next chunks while polars parses the current one (and while
the pipeline works on the batch), so the Python byte work overlaps the GIL-free parsing. Problems
found there (a bad byte, a NUL, a quote never closed) reach the consumer in file order, with the
line they are on.

XLSX (first visible sheet; a one-cell title row above the header is skipped) and JSON arrays are
read whole (an .xlsx has at most 1,048,576 rows; a JSON array above ``JSON_ARRAY_MAX_BYTES`` is
refused with advice to send NDJSON) and then cut into batches. NDJSON columns are the keys of the
first chunk; a key first seen later stops the load rather than being dropped. Trailing columns
without a header name are ignored, unless they hold data (then the file is refused).
"""

from __future__ import annotations

import csv
import io
import json
import queue
import re
import threading
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar
from xml.etree.ElementTree import iterparse

import polars as pl

from jutong.ingest.errors import IngestInputError

DEFAULT_BATCH_ROWS = 200_000
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024
MAX_RECORD_BYTES = 64 * 1024 * 1024  # one CSV record this long means a quote that never closes
JSON_ARRAY_MAX_BYTES = 512 * 1024 * 1024  # a JSON array is parsed whole; NDJSON streams
ROW_COLUMN = "_row"

UTF8, UTF8_BOM, GB18030 = "UTF-8", "UTF-8 (BOM)", "GB18030"
_BOM = b"\xef\xbb\xbf"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"7z\xbc\xaf", b"Rar!")
_SNIFF_BYTES = 64 * 1024


# ---- what a reader hands to the pipeline ------------------------------------------------------


@dataclass
class SourceInfo:
    file_format: str  # csv | tsv | xlsx | json | ndjson | sql | http
    encoding: str  # "UTF-8" | "UTF-8 (BOM)" | "GB18030" | "" (not text)
    columns: list[str]  # source column names, in order
    size_bytes: int | None  # for progress (files); None when unknown


@dataclass
class SourceBatches:
    """The batches of one source, read lazily; ``close()`` (or ``with``) frees files and connections."""

    info: SourceInfo
    batches: Iterator[pl.DataFrame]
    closers: list[Callable[[], Any]] = field(default_factory=list)

    def close(self) -> None:
        """Stop reading and free everything; safe to call twice."""
        close = getattr(self.batches, "close", None)
        try:
            if close is not None:
                close()  # runs the generator's ``finally`` (reading thread, file, connection)
        except ValueError:  # still running in a thread that was not stopped: the closers below end it
            pass
        finally:
            while self.closers:
                self.closers.pop()()

    def __iter__(self) -> Iterator[pl.DataFrame]:
        return self.batches

    def __enter__(self) -> SourceBatches:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- helpers shared with connectors -----------------------------------------------------------


def clean_columns(raw: Iterable[object], *, code: str = "file_header") -> list[str]:
    """Source column names as people wrote them, made comparable (trimmed, NFKC, no trailing ``*``).

    Trailing columns without a name are dropped (spreadsheets save them; a reader refuses data in
    them); an empty name between named columns, a duplicate or the reserved ``_row`` is an error
    naming the columns.
    """
    names = [_clean_name(value) for value in raw]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise IngestInputError(
            "没有找到表头：第一行应为列名", code=code, line=1 if code == "file_header" else None
        )
    empty = [index + 1 for index, name in enumerate(names) if not name]
    if empty:
        where = "、".join(f"第 {n} 列" for n in empty)
        raise IngestInputError(
            f"表头中{where}的列名为空，请为每一列填写列名", code=code, detail={"columns": empty}
        )
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    duplicates = [name for name, n in counts.items() if n > 1]
    if duplicates:
        listed = "、".join(f"“{name}”" for name in duplicates)
        raise IngestInputError(
            f"列名{listed}重复，请修改为不同的列名", code=code, detail={"duplicates": duplicates}
        )
    if ROW_COLUMN in names:
        raise IngestInputError(
            f"列名“{ROW_COLUMN}”为系统保留（行号），请改用其他列名",
            code=code,
            detail={"reserved": ROW_COLUMN},
        )
    return names


def _clean_name(value: object) -> str:
    text = "" if value is None else str(value)
    text = unicodedata.normalize("NFKC", text.strip().lstrip("\ufeff")).strip()
    return text.rstrip("*").strip()


def stringify(df: pl.DataFrame) -> pl.DataFrame:
    """Every column as ``pl.String`` the way a person writes the value; empty text → null.

    Dates ISO ``YYYY-MM-DD``; date-times ``YYYY-MM-DD HH:MM:SS[.ffffff]``; decimals plain; booleans
    ``true``/``false``; binary as hex; nested values (objects, lists) as JSON text.
    """
    exprs: list[pl.Expr] = []
    python_columns: list[str] = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if dtype == pl.String:
            expr = col
        elif dtype == pl.Null:
            expr = col.cast(pl.String)
        elif dtype == pl.Date:
            expr = col.dt.to_string("%Y-%m-%d")
        elif isinstance(dtype, pl.Datetime):
            expr = col.dt.to_string("%Y-%m-%d %H:%M:%S%.f")
        elif dtype == pl.Boolean:
            expr = pl.when(col).then(pl.lit("true")).when(col.not_()).then(pl.lit("false"))
        elif dtype == pl.Binary:
            expr = col.bin.encode("hex")
        elif isinstance(dtype, pl.Struct):
            expr = pl.when(col.is_not_null()).then(col.struct.json_encode())
        elif isinstance(dtype, pl.List | pl.Array):
            # JSON-encode a list by wrapping it in a one-field struct and cutting the wrapper off
            wrapped = pl.struct(col.alias("v")).struct.json_encode()
            expr = pl.when(col.is_not_null()).then(wrapped.str.slice(5).str.strip_suffix("}"))
        elif dtype.is_numeric() or dtype == pl.Time:
            expr = col.cast(pl.String)
        else:  # Duration, Object, ...: rare types, converted by Python
            python_columns.append(name)
            continue
        exprs.append(expr.alias(name))
    out = df.with_columns(exprs) if exprs else df
    for name in python_columns:
        values = [None if v is None else str(v) for v in df.get_column(name).to_list()]
        out = out.with_columns(pl.Series(name, values, dtype=pl.String))
    return empty_to_null(out)


def empty_to_null(df: pl.DataFrame, columns: Iterable[str] | None = None) -> pl.DataFrame:
    names = list(columns) if columns is not None else [n for n, t in df.schema.items() if t == pl.String]
    return df.with_columns(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)


def rebatch(frames: Iterable[pl.DataFrame], batch_rows: int) -> Iterator[pl.DataFrame]:
    """Regroup frames of any size into batches of exactly ``batch_rows`` rows (the last may be shorter)."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be positive")
    pending: list[pl.DataFrame] = []
    count = 0
    try:
        for frame in frames:
            if frame.height == 0:
                continue
            pending.append(frame)
            count += frame.height
            while count >= batch_rows:
                whole = pending[0] if len(pending) == 1 else pl.concat(pending, how="vertical")
                yield whole.slice(0, batch_rows)
                rest = whole.slice(batch_rows)
                pending, count = ([rest] if rest.height else []), rest.height
        if count:
            yield pending[0] if len(pending) == 1 else pl.concat(pending, how="vertical")
    finally:
        close = getattr(frames, "close", None)
        if close is not None:
            close()  # a reader stopped early frees its file, thread or connection now


def _fmt(n: int) -> str:
    return f"{n:,}"


# ---- entry point ------------------------------------------------------------------------------


def open_file(
    path: Path,
    *,
    filename: str = "",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    max_bytes: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    sheet: str | int | None = None,
) -> SourceBatches:
    """Open an uploaded file, recognising its format by content; problems raise ``IngestInputError``.

    ``filename`` is the name the user gave (the format comes from the content, not the name);
    ``max_bytes`` is the upload limit (the web passes one, the CLI none); ``sheet`` picks an .xlsx
    sheet by name or 0-based index (default: the first visible sheet); ``chunk_bytes`` sizes the
    streamed reads of CSV/TSV/NDJSON.
    """
    path = Path(path)
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise IngestInputError(
            f"文件大小 {_size_text(size)} 超过上限 {_size_text(max_bytes)}，请拆分为多个文件分批上传",
            code="file_too_large",
            detail={"size_bytes": size, "max_bytes": max_bytes},
        )
    if size == 0:
        raise _empty("文件是空的（0 字节）")
    fh = path.open("rb")
    try:
        head = fh.read(_SNIFF_BYTES)
        if head.startswith(_ZIP_MAGIC):
            fh.close()
            return _open_xlsx(path, size, batch_rows, sheet)
        _refuse_non_text(head)
        start = _significant_start(fh, head)
        if not start:
            raise _empty("文件中只有空白字符，没有数据")
        fh.seek(0)
        if _JSON_ARRAY_START.match(start):
            fh.close()
            return _open_json_array(path, size, batch_rows)
        if _JSON_OBJECT_START.match(start):
            return _open_ndjson(fh, size, batch_rows, chunk_bytes)
        return _DelimitedReader(fh, size, chunk_bytes).open(batch_rows)
    except BaseException:
        fh.close()
        raise


def _size_text(n: int) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GB"
    if n >= 1024**2:
        return f"{n / 1024**2:.1f} MB"
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} 字节"


def _empty(message: str) -> IngestInputError:
    return IngestInputError(message + "，请检查后重新上传", code="file_empty")


def _refuse_non_text(head: bytes) -> None:
    if head.startswith(_OLE_MAGIC):
        raise IngestInputError(
            "这是旧版 Excel（.xls）文件，暂不支持；请在 Excel 中“另存为”Excel 工作簿（.xlsx）或 CSV UTF-8 后再上传",
            code="file_xls_unsupported",
        )
    if head.startswith(_COMPRESSED_MAGIC):
        raise IngestInputError(
            "这是压缩文件，请解压后上传其中的 CSV、Excel（.xlsx）或 JSON 文件", code="file_unsupported"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestInputError(
            "文件是 UTF-16 编码，暂不支持；请另存为“CSV UTF-8（逗号分隔）”或 GBK 编码的 CSV 后再上传",
            code="file_encoding",
            line=1,
        )
    if b"\x00" in head:
        raise _binary(1 + head[: head.index(b"\x00")].count(b"\n"))


def _binary(line: int) -> IngestInputError:
    return IngestInputError(
        f"文件不是文本文件（第 {_fmt(line)} 行附近含有二进制内容），请上传 CSV、TSV、Excel（.xlsx）、JSON 或 NDJSON 文件",
        code="file_binary",
        line=line,
    )


# JSON by content: "[" then "{" or "]" (a CSV header may well start with "[序号]"), "{" then a key
_JSON_ARRAY_START = re.compile(rb"\[\s*[{\]]")
_JSON_OBJECT_START = re.compile(rb'\{\s*["}]')


def _significant_start(fh: IO[bytes], head: bytes) -> bytes:
    """The first bytes after a BOM and white space (reading on while the file is blank so far)."""
    data = head[len(_BOM) :] if head.startswith(_BOM) else head
    while True:
        stripped = data.lstrip()
        if len(stripped) >= 64:
            return stripped[:64]
        more = fh.read(_SNIFF_BYTES)
        if not more:
            return stripped[:64]
        data = stripped + more


# ---- CSV / TSV ---------------------------------------------------------------------------------


def _record_end(data: bytes) -> int:
    """Index of the last newline in ``data`` outside double quotes (-1: none), ``data`` starting a record.

    A quote byte (0x22) never occurs inside a UTF-8 or GB18030 multi-byte character, and doubled
    quotes inside a quoted field count twice, so the parity of the count says whether a position
    is inside quotes.
    """
    pos = data.rfind(b"\n")
    if pos < 0:
        return pos
    quotes = data.count(b'"', 0, pos)
    while quotes % 2:
        previous = data.rfind(b"\n", 0, pos)
        if previous < 0:
            return -1
        quotes -= data.count(b'"', previous, pos)
        pos = previous
    return pos


def _cut(block: bytes, carry_odd: bool, block_quotes: int) -> int:
    """The last newline of ``block`` outside quotes (-1: none), counting quotes from the end only.

    Inside quotes or not depends on the parity of all quotes before the position; with the total
    of the block known, the quotes after the position (usually a few bytes) tell it.
    """
    pos = block.rfind(b"\n")
    if not block_quotes:
        return -1 if pos < 0 or carry_odd else pos
    after = block.count(b'"', pos) if pos >= 0 else 0  # quotes from the newline to the end
    while pos >= 0:
        if (carry_odd + block_quotes - after) % 2 == 0:
            return pos
        previous = block.rfind(b"\n", 0, pos)
        if previous < 0:
            return -1
        after += block.count(b'"', previous, pos)
        pos = previous
    return -1


class _PieceProblem(Exception):
    """A problem found while preparing a piece, ``offset`` lines after the piece's first line.

    The piece's first line is only known to the consumer (it counts lines as it parses), so the
    error is made there: ``make(line)``.
    """

    def __init__(self, offset: int, make: Callable[[int], IngestInputError]) -> None:
        super().__init__(offset)
        self.offset, self.make = offset, make


def _endless_record(line: int) -> IngestInputError:
    return IngestInputError(
        f"从第 {_fmt(line)} 行起超过 {MAX_RECORD_BYTES // 1024**2} MB 没有结束的记录，可能有引号没有闭合；"
        "请检查该行的双引号",
        code="file_malformed",
        line=line,
    )


_T = TypeVar("_T")
_END = object()


def _prefetch(items: Iterator[_T], depth: int = 2) -> Generator[_T, None, None]:
    """Run ``items`` in a thread, ``depth`` items ahead of the consumer.

    Reading, cutting and decoding the next piece (Python bytes work) overlaps with polars parsing
    the current one and with whatever the pipeline does with the batch (both release the GIL).
    An exception in the thread is raised in the consumer, after the items produced before it.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for item in items:
                if not put("item", item):
                    return
            put("end", _END)
        except BaseException as exc:
            put("error", exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=run, name="jutong-ingest-reader", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "item":
                yield value
            elif kind == "end":
                return
            else:
                raise value
    finally:
        stop.set()
        worker.join(timeout=30)


class _Pieces:
    """Cuts a file into pieces that end at a record end, reading ``chunk_bytes`` at a time.

    Yields ``(piece, final, quotes)``: ``final`` marks what is left at the end of the file (it may
    end inside quotes), ``quotes`` counts the double quotes in the piece. The consumer advances
    ``line`` (the line the next piece starts on) by the newlines of each piece it took.
    """

    def __init__(self, fh: IO[bytes], chunk_bytes: int, quoted: bool) -> None:
        self.fh, self.chunk_bytes, self.quoted = fh, max(1, chunk_bytes), quoted
        self.carry = b""
        self.carry_quotes = 0
        self.line = 1
        self.eof = False

    def __iter__(self) -> Iterator[tuple[bytes, bool, int]]:
        while not self.eof:
            block = self.fh.read(self.chunk_bytes)
            if not block:
                self.eof = True
                if self.carry:
                    piece, quotes, self.carry, self.carry_quotes = self.carry, self.carry_quotes, b"", 0
                    yield piece, True, quotes
                return
            quotes = block.count(b'"') if self.quoted and b'"' in block else 0
            cut = _cut(block, self.carry_quotes % 2 == 1, quotes) if self.quoted else block.rfind(b"\n")
            if cut < 0:
                self.carry += block
                self.carry_quotes += quotes
                if len(self.carry) > MAX_RECORD_BYTES:
                    raise _PieceProblem(0, _endless_record)
                continue
            if cut == len(block) - 1:
                rest = b""
                piece = self.carry + block if self.carry else block
            else:
                rest = block[cut + 1 :]
                piece = b"".join((self.carry, memoryview(block)[: cut + 1]))
            rest_quotes = rest.count(b'"') if quotes else 0
            piece_quotes = self.carry_quotes + quotes - rest_quotes
            self.carry, self.carry_quotes = rest, rest_quotes
            yield piece, False, piece_quotes


class _DelimitedReader:
    """CSV or TSV: detected encoding, header, then polars over each piece."""

    def __init__(self, fh: IO[bytes], size: int, chunk_bytes: int) -> None:
        self.fh, self.size = fh, size
        self.pieces = _Pieces(fh, chunk_bytes, quoted=True)
        self.info = SourceInfo("csv", UTF8, [], size)
        self.settled = False  # False while everything so far was ASCII (encoding still open)
        self.separator = ","
        self.width = 0  # fields in the header, including unnamed trailing ones
        self.names: list[str] = []
        self.tail: tuple[bytes, int] | None = None  # the last record seen, for the truncation check
        self.rows = 0

    # -- opening: encoding, header -----------------------------------------------------------

    def open(self, batch_rows: int) -> SourceBatches:
        iterator = iter(self.pieces)
        piece, final, quotes = next(iterator)
        if piece.startswith(_BOM):
            piece = piece[len(_BOM) :]
            self.info.encoding, self.settled = UTF8_BOM, True
        else:
            self._detect(piece)
        header_end = _header_end(piece)
        if header_end < 0:  # the whole file is one unfinished record
            if final and piece.count(b'"') % 2:
                raise _unclosed_quote(1)
            header_end = len(piece)
        header = piece[:header_end]
        rest = piece[header_end + 1 :]
        header_text = self._decode_small(header, 1).rstrip("\r")
        tabs, commas = header_text.count("\t"), header_text.count(",")
        self.separator = "\t" if tabs > commas else ","
        self.info.file_format = "tsv" if self.separator == "\t" else "csv"
        fields = next(csv.reader(io.StringIO(header_text, newline=""), delimiter=self.separator), [])
        self.names = clean_columns(fields)
        self.width = len(fields)
        self.info.columns = list(self.names)
        self.pieces.line = 2 + header.count(b"\n")
        if (not rest or rest.isspace()) and self.pieces.eof:
            raise _empty("文件只有表头，没有数据行")
        frames = self._frames(iterator, (rest, final, quotes - header.count(b'"')))
        batches = rebatch(frames, batch_rows)
        return SourceBatches(self.info, batches, [self.fh.close])

    def _detect(self, piece: bytes) -> None:
        """The encoding from the first piece: BOM (handled before), valid UTF-8, else GB18030."""
        if b"\x00" in piece:
            raise _binary(1 + piece[: piece.index(b"\x00")].count(b"\n"))
        if _looks_binary(piece[:_SNIFF_BYTES]):
            raise _binary(1)
        if piece.isascii():
            self.info.encoding = UTF8  # still open: see _utf8
            return
        self.settled = True
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = exc.start
        else:
            self.info.encoding = UTF8
            return
        before = piece[:bad]
        if len(before) - len(before.decode("utf-8")) >= 6:
            # at least three Chinese characters of clean UTF-8 first: a UTF-8 file with a bad line
            # (GBK text almost never forms valid UTF-8 that long)
            raise _mixed(1 + before.count(b"\n"), UTF8)
        try:
            _decode_gb(piece)
        except UnicodeDecodeError as exc:
            raise IngestInputError(
                "无法识别文件编码：既不是 UTF-8，也不是 GBK/GB18030；请在 Excel 或 WPS 中另存为“CSV UTF-8（逗号分隔）”后再上传",
                code="file_encoding",
                line=1 + piece[: exc.start].count(b"\n"),
            ) from exc
        self.info.encoding = GB18030

    def _decode_small(self, data: bytes, line: int) -> str:
        try:
            return _decode_gb(data) if self.info.encoding == GB18030 else data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _mixed(line + data[: exc.start].count(b"\n"), self.info.encoding) from exc

    # -- the stream ------------------------------------------------------------------------------

    def _frames(
        self, pieces: Iterator[tuple[bytes, bool, int]], first: tuple[bytes, bool, int]
    ) -> Iterator[pl.DataFrame]:
        """Consumer: parse each prepared piece, count lines, check the end of the file."""
        prepared = _prefetch(self._prepared(pieces, first))
        try:
            for data, quotes in prepared:
                line = self.pieces.line
                frame, newlines = self._parse(data, line, quotes)
                self.pieces.line = line + newlines
                tail = _last_record(data)
                if tail is not None:
                    start, end = tail
                    self.tail = (data[start:end], self.pieces.line - data.count(b"\n", start))
                if frame.height:
                    self.rows += frame.height
                    yield frame
        except _PieceProblem as problem:
            raise problem.make(self.pieces.line + problem.offset) from None
        finally:
            prepared.close()  # stops the reading thread before the file closes under it
            self.fh.close()
        if self.tail is not None:
            self._check_last_record(*self.tail)
        if self.rows == 0:
            raise _empty("文件只有表头，没有数据行")

    def _prepared(
        self, pieces: Iterator[tuple[bytes, bool, int]], first: tuple[bytes, bool, int]
    ) -> Iterator[tuple[bytes, int]]:
        """Producer (in a thread): each piece checked and as UTF-8 bytes, with its quote count."""
        yield from self._prepare(*first)
        for piece in pieces:
            yield from self._prepare(*piece)

    def _prepare(self, piece: bytes, final: bool, quotes: int) -> Iterator[tuple[bytes, int]]:
        if not piece:
            return
        if final and quotes % 2:
            start = _record_end(piece) + 1
            raise _PieceProblem(piece[:start].count(b"\n"), _unclosed_quote)
        if b"\x00" in piece:
            raise _PieceProblem(piece[: piece.index(b"\x00")].count(b"\n"), _binary)
        yield self._utf8(piece), quotes

    def _utf8(self, piece: bytes) -> bytes:
        """The piece as UTF-8 bytes for polars (UTF-8 is validated by polars itself while parsing)."""
        if self.info.encoding == GB18030:
            return self._transcode(piece)
        if self.settled or piece.isascii():
            return piece
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not piece[: exc.start].isascii():
                raise _PieceProblem(piece[: exc.start].count(b"\n"), _mixed_utf8) from exc
            # all earlier bytes were ASCII: the file is GBK/GB18030 after all
            self.info.encoding = GB18030
            self.settled = True
            return self._transcode(piece)
        self.settled = True
        return piece

    def _transcode(self, piece: bytes) -> bytes:
        try:
            return _decode_gb(piece).encode("utf-8")
        except UnicodeDecodeError as exc:
            raise _PieceProblem(piece[: exc.start].count(b"\n"), _mixed_gb) from exc

    def _parse(self, data: bytes, line: int, quotes: int) -> tuple[pl.DataFrame, int]:
        """The records of a piece with their line numbers, and the number of newlines in the piece."""
        raw = [f"c{i}" for i in range(self.width)]
        try:
            frame = pl.read_csv(
                data,
                has_header=False,
                schema=dict.fromkeys(raw, pl.String),
                infer_schema=False,
                separator=self.separator,
                quote_char='"',
                missing_columns="insert",
                raise_if_empty=False,
                truncate_ragged_lines=False,
            )
        except pl.exceptions.PolarsError as exc:
            raise self._problem(data, line, exc) from exc
        unterminated = 0 if data.endswith(b"\n") else 1
        # without quotes every line is one record (a blank one too), so polars' count gives the lines
        newlines = data.count(b"\n") if quotes else frame.height - unterminated
        if frame.height == 0:
            return frame, newlines
        if frame.height == newlines + unterminated:
            row = pl.int_range(line, line + frame.height, dtype=pl.Int64)
        else:  # quoted line breaks: each record starts after the lines of the ones before it
            breaks = pl.sum_horizontal(pl.col(c).str.count_matches("\n", literal=True) for c in raw)
            breaks = breaks.fill_null(0).cast(pl.Int64)
            row = pl.int_range(0, pl.len(), dtype=pl.Int64) + line + breaks.cum_sum() - breaks
        kept = raw[: len(self.names)]
        if len(raw) > len(kept):
            self._refuse_unnamed_data(frame, raw[len(kept) :], row)
        frame = frame.select(
            *(pl.col(c).alias(n) for c, n in zip(kept, self.names, strict=True)), row.alias(ROW_COLUMN)
        )
        if quotes and b'""' in data:  # a quoted empty field "" is parsed as an empty string
            frame = empty_to_null(frame, self.names)
        return frame.filter(~pl.all_horizontal(pl.col(n).is_null() for n in self.names)), newlines

    def _refuse_unnamed_data(self, frame: pl.DataFrame, unnamed: list[str], row: pl.Expr) -> None:
        filled = frame.select(row.alias(ROW_COLUMN), *unnamed).filter(
            pl.any_horizontal(pl.col(unnamed).is_not_null())
        )
        if filled.height:
            first = filled.row(0, named=True)
            column = next(int(c[1:]) + 1 for c in unnamed if first[c] is not None)
            raise _unnamed_data(column, first[ROW_COLUMN])

    def _problem(self, data: bytes, line: int, exc: Exception) -> IngestInputError:
        """Find the line polars choked on (only on this error path, so a Python scan is fine)."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as bad:
            return _mixed(line + data[: bad.start].count(b"\n"), self.info.encoding)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=self.separator, strict=True)
        consumed = 0
        try:
            for fields in reader:
                start, consumed = line + consumed, reader.line_num
                if len(fields) > self.width:
                    return IngestInputError(
                        f"第 {_fmt(start)} 行有 {len(fields)} 列，多于表头的 {self.width} 列；"
                        "请检查该行是否多了分隔符（逗号），或含逗号的内容没有用双引号括起来",
                        code="file_columns",
                        line=start,
                        detail={"fields": len(fields), "header_fields": self.width},
                    )
        except csv.Error as bad:
            where = line + consumed
            return IngestInputError(
                f"第 {_fmt(where)} 行的双引号使用有误（{bad}）；含逗号、引号或换行的内容应整体用双引号括起来，内容中的双引号写作两个双引号",
                code="file_malformed",
                line=where,
            )
        return IngestInputError(
            f"第 {_fmt(line)} 行起的内容无法按 {self.info.file_format.upper()} 解析：{exc}",
            code="file_malformed",
            line=line,
        )

    def _check_last_record(self, record: bytes, line: int) -> None:
        text = record.decode("utf-8", errors="replace")
        fields = next(csv.reader(io.StringIO(text, newline=""), delimiter=self.separator), [])
        if len(fields) < len(self.names):
            raise IngestInputError(
                f"最后一行（第 {_fmt(line)} 行）只有 {len(fields)} 列，少于表头的 {len(self.names)} 列，"
                "文件可能不完整（上传或导出中断）；请重新导出完整的文件",
                code="file_truncated",
                line=line,
                detail={"fields": len(fields), "header_fields": len(self.names)},
            )


def _unnamed_data(column: int, line: int) -> IngestInputError:
    return IngestInputError(
        f"第 {column} 列没有列名，但第 {_fmt(line)} 行在该列有内容；请在表头补上列名，或删除该列的内容",
        code="file_header",
        line=line,
        detail={"column": column},
    )


def _last_record(data: bytes) -> tuple[int, int] | None:
    """Where the last non-blank record of a piece starts and ends (None: only blank lines).

    The piece holds an even number of quotes, so the quotes after a newline say whether it is
    inside quotes; only the end of the piece is scanned.
    """
    end = len(data)
    while True:
        while end and data[end - 1] in b"\r\n":
            end -= 1
        if not end:
            return None
        pos = data.rfind(b"\n", 0, end)
        while pos >= 0 and data.count(b'"', pos, end) % 2:
            pos = data.rfind(b"\n", 0, pos)
        if data[pos + 1 : end].strip():
            return pos + 1, end
        end = pos + 1


def _header_end(piece: bytes) -> int:
    """Index of the newline that ends the first record (a header may hold quoted line breaks)."""
    pos = piece.find(b"\n")
    while pos >= 0 and piece.count(b'"', 0, pos) % 2:
        pos = piece.find(b"\n", pos + 1)
    return pos


def _decode_gb(data: bytes) -> str:
    # the GBK codec is faster and decodes every valid GBK byte pair exactly like GB18030;
    # only text with GB18030's 4-byte characters needs the slower codec
    try:
        return data.decode("gbk")
    except UnicodeDecodeError:
        return data.decode("gb18030")


_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\x0c") + b"\x7f"


def _looks_binary(sample: bytes) -> bool:
    """Control bytes are rare in text of any encoding and common in binary files."""
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls > max(2, len(sample) // 200)


def _mixed(line: int, encoding: str) -> IngestInputError:
    return IngestInputError(
        f"第 {_fmt(line)} 行附近的内容不是 {encoding} 编码（文件中混用了不同编码）；"
        "请用文本编辑器检查该行，整个文件统一另存为 UTF-8 或 GBK 后再上传",
        code="file_encoding",
        line=line,
        detail={"encoding": encoding},
    )


def _mixed_utf8(line: int) -> IngestInputError:
    return _mixed(line, UTF8)


def _mixed_gb(line: int) -> IngestInputError:
    return _mixed(line, GB18030)


def _unclosed_quote(line: int) -> IngestInputError:
    return IngestInputError(
        f"第 {_fmt(line)} 行开始的双引号直到文件结尾都没有闭合，文件可能不完整（上传或导出中断）；"
        "请检查该行的双引号或重新导出完整的文件",
        code="file_truncated",
        line=line,
    )


# ---- NDJSON ------------------------------------------------------------------------------------


def _open_ndjson(fh: IO[bytes], size: int, batch_rows: int, chunk_bytes: int) -> SourceBatches:
    pieces = iter(_Pieces(fh, chunk_bytes, quoted=False))  # JSON strings never hold a raw newline
    info = SourceInfo("ndjson", UTF8, [], size)
    piece, _, _ = next(pieces)
    if piece.startswith(_BOM):
        piece = piece[len(_BOM) :]
        info.encoding = UTF8_BOM
    elif not piece.isascii():
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            info.encoding = GB18030
    data = _json_utf8(piece, 1, info.encoding)
    keys = _ndjson_keys(data, 1)
    if not keys:
        raise _empty("NDJSON 文件中没有记录")
    info.columns = clean_columns(keys)
    state = {"index": 0}

    def parse(data: bytes, line: int) -> pl.DataFrame:
        # the keys of every piece are checked, so a field first seen late is an error, never dropped
        new = [k for k in _ndjson_keys(data, line) if k not in keys]
        try:
            frame = pl.read_ndjson(data, schema=dict.fromkeys(keys + new, pl.String))
        except pl.exceptions.PolarsError as exc:
            raise _ndjson_problem(data, line, exc) from exc
        if new:
            first = frame.select(pl.any_horizontal(pl.col(c).is_not_null() for c in new).arg_max()).item()
            raise IngestInputError(
                f"第 {_fmt(state['index'] + first + 1)} 条记录出现了前面记录中没有的字段“{'、'.join(new)}”；"
                "请让每条记录都包含全部字段（没有值时写 null），或把该字段放进前面的记录",
                code="file_columns",
                detail={"fields": new, "record": state["index"] + first + 1},
            )
        frame = frame.select(
            *(pl.col(k).alias(n) for k, n in zip(keys, info.columns, strict=True)),
            pl.int_range(state["index"] + 1, state["index"] + frame.height + 1, dtype=pl.Int64).alias(
                ROW_COLUMN
            ),
        )
        state["index"] += frame.height
        return empty_to_null(frame, info.columns)

    def frames() -> Iterator[pl.DataFrame]:
        try:
            yield parse(data, 1)
            at = 1 + piece.count(b"\n")
            try:
                for more, _, _ in pieces:
                    yield parse(_json_utf8(more, at, info.encoding), at)
                    at += more.count(b"\n")
            except _PieceProblem as problem:
                raise problem.make(at + problem.offset) from None
        finally:
            fh.close()

    return SourceBatches(info, rebatch(frames(), batch_rows), [fh.close])


def _ndjson_keys(data: bytes, line: int) -> list[str]:
    try:
        return pl.scan_ndjson(io.BytesIO(data), infer_schema_length=None).collect_schema().names()
    except pl.exceptions.PolarsError as exc:
        raise _ndjson_problem(data, line, exc) from exc


def _json_utf8(piece: bytes, line: int, encoding: str) -> bytes:
    if b"\x00" in piece:
        raise _binary(line + piece[: piece.index(b"\x00")].count(b"\n"))
    if encoding == GB18030:
        try:
            return _decode_gb(piece).encode("utf-8")
        except UnicodeDecodeError as exc:
            raise _mixed(line + piece[: exc.start].count(b"\n"), GB18030) from exc
    try:
        piece.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _mixed(line + piece[: exc.start].count(b"\n"), encoding) from exc
    return piece


def _ndjson_problem(data: bytes, line: int, exc: Exception) -> IngestInputError:
    for offset, text in enumerate(data.decode("utf-8", errors="replace").split("\n")):
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as bad:
            return _json_syntax(
                line + offset,
                bad.colno,
                bad.msg,
                "以 { 开头的文件按 NDJSON 读取，每行应是一个完整的 JSON 对象；多行排版的 JSON 请写成以 [ 开头的对象数组",
            )
        if not isinstance(value, dict):
            return IngestInputError(
                f'第 {_fmt(line + offset)} 行不是 JSON 对象；NDJSON 文件应每行一个对象，如 {{"姓名": "张三"}}',
                code="json_invalid",
                line=line + offset,
            )
    return IngestInputError(f"第 {_fmt(line)} 行起的 NDJSON 无法读取：{exc}", code="json_invalid", line=line)


def _json_syntax(line: int, column: int, reason: str, hint: str = "") -> IngestInputError:
    return IngestInputError(
        f"JSON 格式有误：第 {_fmt(line)} 行第 {column} 个字符（{reason}）；请检查该处的括号、逗号和引号"
        + (f"（{hint}）" if hint else ""),
        code="json_invalid",
        line=line,
        detail={"column": column, "reason": reason},
    )


# ---- JSON array --------------------------------------------------------------------------------


def _open_json_array(path: Path, size: int, batch_rows: int) -> SourceBatches:
    if size > JSON_ARRAY_MAX_BYTES:
        raise IngestInputError(
            f"JSON 数组文件超过 {_size_text(JSON_ARRAY_MAX_BYTES)}，无法整体读取；请改用 NDJSON（每行一个 JSON 对象）或 CSV 上传",
            code="file_too_large",
            detail={"size_bytes": size, "max_bytes": JSON_ARRAY_MAX_BYTES},
        )
    raw = path.read_bytes()
    encoding = UTF8
    if raw.startswith(_BOM):
        raw, encoding = raw[len(_BOM) :], UTF8_BOM
    elif not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            encoding = GB18030
    data = _json_utf8(raw, 1, encoding)
    frame = json_records_frame(data)
    info = SourceInfo("json", encoding, [c for c in frame.columns if c != ROW_COLUMN], size)
    return SourceBatches(info, rebatch([frame], batch_rows))


def json_records_frame(
    data: bytes, *, first_index: int = 1, code: str = "json_invalid", header_code: str = "file_header"
) -> pl.DataFrame:
    """A UTF-8 JSON array of objects as a frame of strings with ``_row`` = record index.

    ``code`` is the error code for JSON that is not an array of objects, ``header_code`` the one
    for unusable field names.
    """
    try:
        inferred = pl.read_json(data, infer_schema_length=None)
    except pl.exceptions.PolarsError as exc:
        inferred = None
        problem = _json_array_problem(data, code)
        if problem is not None:
            raise problem from exc
    frame: pl.DataFrame | None = None
    if inferred is not None:
        # second pass with scalars read as text, so 1.0 stays "1" and 2.50 "2.5" as in NDJSON
        nested = {k: t for k, t in inferred.schema.items() if isinstance(t, pl.Struct | pl.List | pl.Array)}
        schema = {k: nested.get(k, pl.String) for k in inferred.columns}
        try:
            frame = stringify(pl.read_json(data, schema=schema)) if schema else inferred
        except pl.exceptions.PolarsError:
            frame = None
    if frame is None:  # valid JSON polars cannot type (a field both nested and plain): via Python
        frame = _records_via_python(json.loads(data))
    if frame.height == 0:
        raise _empty("JSON 数组中没有记录")
    if frame.width == 0:
        raise _empty("JSON 记录中没有任何字段")
    names = clean_columns(frame.columns, code=header_code)
    frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
    index = pl.int_range(first_index, first_index + frame.height, dtype=pl.Int64).alias(ROW_COLUMN)
    return frame.with_columns(index)


def _records_via_python(records: list[Any]) -> pl.DataFrame:
    lines = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode("utf-8")
    keys = list(dict.fromkeys(k for r in records for k in r))
    return empty_to_null(pl.read_ndjson(lines, schema=dict.fromkeys(keys, pl.String)))


def _json_array_problem(data: bytes, code: str) -> IngestInputError | None:
    try:
        value = json.loads(data)
    except json.JSONDecodeError as bad:
        error = _json_syntax(bad.lineno, bad.colno, bad.msg)
        error.code = code
        return error
    if not isinstance(value, list):
        return IngestInputError('JSON 内容应为对象数组，如 [{"姓名": "张三"}]', code=code)
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            return IngestInputError(
                f'JSON 数组的第 {_fmt(index)} 个元素不是对象；每条记录应为 {{"列名": 值}} 形式',
                code=code,
                detail={"record": index},
            )
    return None


# ---- XLSX --------------------------------------------------------------------------------------


def _open_xlsx(path: Path, size: int, batch_rows: int, sheet: str | int | None) -> SourceBatches:
    import fastexcel

    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:  # the directory at the end of a ZIP is missing: the file was cut
        raise IngestInputError(
            "Excel 文件不完整（可能上传或复制中断）；请用 Excel 打开确认后重新上传",
            code="file_truncated",
        ) from exc
    with archive:
        if "xl/workbook.xml" not in archive.namelist():
            raise IngestInputError(
                "这是一个 ZIP 压缩包，不是 Excel 工作簿（.xlsx）；请解压后上传其中的数据文件",
                code="file_unsupported",
            )
        try:
            name, first_row = _xlsx_first_sheet(archive, sheet)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise _xlsx_corrupt(exc) from exc
    try:
        reader = fastexcel.read_excel(str(path))
        target: str | int = name if name is not None else (sheet if sheet is not None else 0)
        if (isinstance(target, str) and target not in reader.sheet_names) or (
            isinstance(target, int) and not 0 <= target < len(reader.sheet_names)
        ):
            raise IngestInputError(
                f"工作簿中没有工作表“{target}”（有：{'、'.join(reader.sheet_names)}）",
                code="file_sheet",
            )
        grid = reader.load_sheet(target, header_row=None, dtypes="string").to_polars()
    except IngestInputError:
        raise
    except Exception as exc:  # calamine reports damage in many shapes
        raise _xlsx_corrupt(exc) from exc
    frame = _xlsx_frame(grid, first_row)
    info = SourceInfo("xlsx", "", [c for c in frame.columns if c != ROW_COLUMN], size)
    return SourceBatches(info, rebatch([frame], batch_rows))


def _xlsx_corrupt(exc: Exception) -> IngestInputError:
    return IngestInputError(
        f"Excel 文件已损坏，无法读取（{exc.__class__.__name__}）；请用 Excel 打开检查后另存为 .xlsx 再上传",
        code="file_corrupt",
    )


def _xlsx_frame(grid: pl.DataFrame, first_row: int) -> pl.DataFrame:
    """The sheet's cells (all strings, first row = ``first_row`` in Excel) → header + data rows."""
    grid = empty_to_null(grid)
    # columns with neither a name nor data (the range may start left of the table) are not columns
    grid = grid.select(c for c in grid.columns if grid.get_column(c).null_count() < grid.height)
    if grid.width == 0:
        raise _empty("工作表是空的")
    # a date cell reads as "YYYY-MM-DD 00:00:00": keep the date a person typed
    grid = grid.with_columns(pl.col(pl.String).str.replace(r"^(\d{4}-\d{2}-\d{2}) 00:00:00$", "$1"))
    filled = grid.select(pl.sum_horizontal(pl.all().is_not_null().cast(pl.Int32))).to_series()
    nonempty = [i for i, n in enumerate(filled.head(50).to_list()) if n]
    if not nonempty:
        raise _empty("工作表是空的")
    header_at = nonempty[0]
    # a one-cell title row (e.g. “某市人口信息表”) above the real header is skipped
    if filled[header_at] == 1 and grid.width > 1 and len(nonempty) > 1 and filled[nonempty[1]] > 1:
        header_at = nonempty[1]
    names = clean_columns(grid.row(header_at))
    rows = grid.slice(header_at + 1).with_columns(
        pl.int_range(first_row + header_at + 1, first_row + grid.height, dtype=pl.Int64).alias(ROW_COLUMN)
    )
    unnamed = grid.columns[len(names) :]
    if unnamed:
        filled_unnamed = rows.filter(pl.any_horizontal(pl.col(unnamed).is_not_null()))
        if filled_unnamed.height:
            first = filled_unnamed.row(0, named=True)
            column = len(names) + 1 + next(i for i, c in enumerate(unnamed) if first[c] is not None)
            raise _unnamed_data(column, first[ROW_COLUMN])
    rows = rows.select(*(pl.col(c).alias(n) for c, n in zip(grid.columns, names, strict=False)), ROW_COLUMN)
    rows = rows.filter(~pl.all_horizontal(pl.col(n).is_null() for n in names))
    if rows.height == 0:
        raise _empty("工作表只有表头，没有数据行")
    return rows


def _xlsx_first_sheet(archive: zipfile.ZipFile, sheet: str | int | None) -> tuple[str | None, int]:
    """The chosen sheet's name and the Excel row where its data range starts.

    calamine (under fastexcel) starts a sheet at its first cell holding a value, so a sheet whose
    header sits on row 3 loses rows 1-2; the sheet XML's first valued cell gives them back.
    """
    try:
        sheets = [
            (el.get("name", ""), el.get("state", "visible"), _attr_by_local_name(el.attrib, "id"))
            for _, el in iterparse(archive.open("xl/workbook.xml"))
            if el.tag.rsplit("}", 1)[-1] == "sheet"
        ]
        if isinstance(sheet, int):
            chosen = sheets[sheet]
        elif isinstance(sheet, str):
            chosen = next(s for s in sheets if s[0] == sheet)
        else:
            chosen = next((s for s in sheets if s[1] == "visible"), sheets[0])
        targets = {
            el.get("Id"): el.get("Target", "")
            for _, el in iterparse(archive.open("xl/_rels/workbook.xml.rels"))
            if el.tag.rsplit("}", 1)[-1] == "Relationship"
        }
        target = targets[chosen[2]]
        member = target.lstrip("/") if target.startswith("/") else "xl/" + target
        return chosen[0], _first_valued_row(archive, member)
    except (KeyError, IndexError, StopIteration, SyntaxError, ValueError):
        return (sheet if isinstance(sheet, str) else None), 1


def _attr_by_local_name(attrib: dict[str, str], local: str) -> str | None:
    return next((v for k, v in attrib.items() if k.rsplit("}", 1)[-1] == local and k.startswith("{")), None)


_CELL_REF = re.compile(r"[A-Z]+(\d+)")


def _first_valued_row(archive: zipfile.ZipFile, member: str) -> int:
    row = 0
    with archive.open(member) as stream:
        for event, el in iterparse(stream, events=("start", "end")):
            tag = el.tag.rsplit("}", 1)[-1]
            if event == "start" and tag == "row":
                row = int(el.get("r") or row + 1)
            elif (
                event == "end"
                and tag == "c"
                and any(child.tag.rsplit("}", 1)[-1] in ("v", "is") for child in el)
            ):
                ref = _CELL_REF.match(el.get("r", ""))
                return int(ref.group(1)) if ref else row
    return 1
