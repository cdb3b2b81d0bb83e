"""A submission's multipart body: text fields judged as UTF-8 from their bytes, every part sent at most once.

Werkzeug decodes text parts with errors="replace", so invalid bytes and a real U+FFFD looked alike. Here text
parts are decoded as Latin-1 (one character per byte, nothing lost) and their bytes decoded again, strictly, as
UTF-8. Two parts with one name are refused: which image (or which scale) would be charged is not the server's
guess to make.
"""
from __future__ import annotations

from flask import request
from werkzeug.datastructures import Headers
from werkzeug.formparser import FormDataParser, MultiPartParser

from pixelforge.operations import ValidationFailed

FILE_FIELDS = ("image", "mask")
MULTIPART = "multipart/form-data"


class _ByteFaithfulMultiPartParser(MultiPartParser):
    def get_part_charset(self, headers: Headers) -> str:
        return "latin-1"  # whatever the part declares: its bytes come back with .encode("latin-1")


class ByteFaithfulFormDataParser(FormDataParser):
    """Werkzeug's form parser, except that multipart text fields keep their bytes (as Latin-1 text)."""

    def parse(self, stream, mimetype, content_length, options=None):
        if mimetype != MULTIPART:
            return super().parse(stream, mimetype, content_length, options)
        parser = _ByteFaithfulMultiPartParser(stream_factory=self.stream_factory,
                                              max_form_memory_size=self.max_form_memory_size,
                                              max_form_parts=self.max_form_parts, cls=self.cls)
        try:
            boundary = (options or {}).get("boundary", "").encode("ascii")
            if not boundary:
                raise ValueError("missing boundary")
            form, files = parser.parse(stream, boundary, content_length)
        except ValueError:  # a malformed body reads as empty, as with Werkzeug's own parser
            if not self.silent:
                raise
            return stream, self.cls(), self.cls()
        return stream, form, files


def read_submission() -> tuple[dict[str, str], dict[str, bytes | None]]:
    """The request's text fields and its image and mask bytes (None when absent); ValidationFailed (422) for a
    repeated part, a file sent as text, text that is not UTF-8, or a file under another name."""
    if "form" in request.__dict__:  # parsed already, by Werkzeug's parser: the text fields' bytes are gone
        raise RuntimeError("the request body was parsed before read_submission could keep its bytes")
    request.form_data_parser_class = ByteFaithfulFormDataParser
    form, files = request.form, request.files
    for name in sorted(set(form) | set(files)):
        if len(form.getlist(name)) + len(files.getlist(name)) > 1:
            raise ValidationFailed(f"{name} was sent more than once; send each field once", name, "duplicate_field")
    uploads: dict[str, bytes | None] = {}
    for name in FILE_FIELDS:
        if name in files:
            uploads[name] = files[name].read()
        elif name in form:
            raise _file_sent_as_text(name, _text(name, form[name], strict=False))
        else:
            uploads[name] = None
    fields = {name: _text(name, value) for name, value in form.items() if name not in FILE_FIELDS}
    for name in files:
        if name not in FILE_FIELDS:
            raise ValidationFailed(f"unexpected file field {name!r}; only image and mask are files", name,
                                   "unknown_parameter")
    return fields, uploads


def _text(name: str, value: str, strict: bool = True) -> str:
    if request.mimetype != MULTIPART:
        return value
    try:
        return value.encode("latin-1").decode("utf-8", "strict" if strict else "replace")
    except UnicodeDecodeError:
        raise ValidationFailed(f"{name} is not valid UTF-8 text", name, "invalid_encoding") from None


def _file_sent_as_text(name: str, value: str) -> ValidationFailed:
    return ValidationFailed(
        f"{name} arrived as a text field ({value[:40]!r}), not a file. Send the file's bytes as a multipart "
        f"file part (curl: -F '{name}=@photo.jpg'; Python requests: files={{'{name}': f}}; Node: "
        f"form.append('{name}', new Blob([fs.readFileSync(path)]), 'photo.jpg') — a ReadStream is "
        "turned into the text '[object Object]' by the built-in FormData)",
        name, "file_sent_as_text")
