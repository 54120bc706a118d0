"""Errors of a source as a whole (数据源错误): the file or the remote system cannot be read.

A problem with one row is not an error here: it becomes a reject with its reasons. An
``IngestInputError`` stops the load; the pipeline marks the load failed with ``code`` and
``message`` and keeps the previous data version. It may be raised when a source is opened
or later while its batches are read (a bad byte on line 9,000,001).

Stable codes (``detail`` carries ``line`` / ``status`` / the remote system's own text):

========================  ==================================================================
``file_empty``            empty file, or only a header and no data rows
``file_binary``           NUL bytes or other binary content: not a text file
``file_encoding``         not UTF-8 / GBK / GB18030, UTF-16, or mixed encodings (names the line)
``file_truncated``        the last line is cut short or a quote is never closed (names the line)
``file_too_large``        bigger than the limit of the upload (or of a whole-file JSON array)
``file_header``           empty, duplicate or reserved column names
``file_columns``          a row with more fields than the header (names the line)
``file_malformed``        CSV quoting the parser cannot follow (names the line)
``file_xls_unsupported``  old binary Excel (.xls)
``file_unsupported``      a ZIP or compressed file that is not an .xlsx workbook
``file_corrupt``          an .xlsx whose contents are damaged
``file_sheet``            the requested .xlsx sheet does not exist
``json_invalid``          JSON syntax error (names line and column) or not an array of objects
``source_config``         a source's settings are incomplete or wrong (URL, kind)
``source_unreachable``    the server cannot be reached (refused connection, unknown host)
``source_refused``        the server answers but refuses us (bad user or password, no database)
``source_timeout``        no answer within the time limit
``source_query``          the database rejected the query (its own text is in ``detail``)
``source_query_not_select``  only one SELECT (or WITH ... SELECT) query may be run
``source_columns``        duplicate column names in a query result, or fields appearing late
``http_status``           the HTTP endpoint answered with an error status
``http_not_json``         the HTTP endpoint did not return JSON
``http_records``          the JSON has no list of records at ``records_path``
========================  ==================================================================
"""

from __future__ import annotations

from typing import Any

from jutong.core.errors import ValidationFailed


class IngestInputError(ValidationFailed):
    """数据源无法读取: the whole input is unusable; says what, where (line) and how to fix."""

    code = "ingest_input"
    default_message = "数据源无法读取"

    def __init__(
        self, message: str, *, code: str, line: int | None = None, detail: dict[str, Any] | None = None
    ) -> None:
        info = dict(detail or {})
        if line is not None:
            info["line"] = line
        super().__init__(message, code=code, detail=info or None)
        self.line = line
