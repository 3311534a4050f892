"""Tesseract's reading process, kept between renders (optimizer/lettering.py starts it).

Run as a script, `python -I -S reading_process.py LIBRARY`, never imported: it loads libtesseract
through its C API and nothing else, so neither torch nor torch's own OpenMP runtime (which
libtesseract would share in the renderer's process, and whose thread limit is fixed when it loads).
Here OMP_THREAD_LIMIT=1 from the parent holds: tesseract's LSTM asks for 4 threads, which on two
cores spin against each other and the renderer (a shop sign read in 0.34 s with them, 0.13 s
without).

Protocol on stdin/stdout, little-endian: a request is the width and height (two uint32) and the
8-bit grey pixels, row by row; a reply is one byte (R ready, T text, E error), a uint32 length and
that many bytes: tesseract's TSV for T, the reason for E. R comes once, after the English model has
loaded. The process ends at the end of its stdin.
"""

from __future__ import annotations

import ctypes
import struct
import sys
from typing import BinaryIO

REQUEST = struct.Struct("<II")
REPLY = struct.Struct("<cI")
PAGE_SEGMENTATION = 4  # a column of text of any sizes: see lettering.read_words


def _bind(lib: ctypes.CDLL) -> None:
    pointer, text, number = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    signatures = {
        "TessBaseAPICreate": ([], pointer),
        "TessBaseAPIInit3": ([pointer, text, text], number),
        "TessBaseAPISetVariable": ([pointer, text, text], number),
        "TessBaseAPISetPageSegMode": ([pointer, number], None),
        "TessBaseAPISetImage": ([pointer, ctypes.c_char_p, number, number, number, number], None),
        "TessBaseAPIRecognize": ([pointer, pointer], number),
        "TessBaseAPIGetTsvText": ([pointer, number], pointer),
        "TessDeleteText": ([pointer], None),
        "TessBaseAPIEnd": ([pointer], None),
        "TessBaseAPIDelete": ([pointer], None),
    }
    for name, (arguments, result) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = arguments, result


def _reply(out: BinaryIO, kind: bytes, payload: bytes = b"") -> None:
    out.write(REPLY.pack(kind, len(payload)) + payload)
    out.flush()


def serve(library: str, into: BinaryIO, out: BinaryIO) -> None:
    try:
        lib = ctypes.CDLL(library)
        _bind(lib)
    except (OSError, AttributeError) as exc:
        _reply(out, b"E", f"cannot load {library}: {exc}".encode())
        return
    api = lib.TessBaseAPICreate()
    if lib.TessBaseAPIInit3(api, None, b"eng") != 0:
        _reply(out, b"E", b"tesseract has no English model (Debian: apt install tesseract-ocr-eng)")
        return
    lib.TessBaseAPISetPageSegMode(api, PAGE_SEGMENTATION)
    lib.TessBaseAPISetVariable(api, b"debug_file", b"/dev/null")  # "Estimating resolution as ..."
    _reply(out, b"R")
    while len(header := into.read(REQUEST.size)) == REQUEST.size:
        width, height = REQUEST.unpack(header)
        pixels = into.read(width * height)
        if len(pixels) < width * height:
            break
        lib.TessBaseAPISetImage(api, pixels, width, height, 1, width)
        if lib.TessBaseAPIRecognize(api, None) != 0:
            _reply(out, b"E", b"tesseract could not read the canvas")
            continue
        tsv = lib.TessBaseAPIGetTsvText(api, 0)
        _reply(out, b"T", ctypes.string_at(tsv))
        lib.TessDeleteText(tsv)
    lib.TessBaseAPIEnd(api)
    lib.TessBaseAPIDelete(api)


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
