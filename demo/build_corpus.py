"""How demo/corpus.jsonl was made: one-line summaries of the Python standard library's API.

Real English sentences a person can judge ("Compress data, returning a bytes object..."), about
topics that clearly differ, so a nearest-neighbour search over them visibly makes sense. Run it
with Python 3.11 to rebuild the file; the demo itself only reads the file.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

MODULES = [
    "builtins",
    "base64", "bisect", "calendar", "collections", "csv", "datetime", "difflib", "email.message", "email.utils",
    "fnmatch", "fractions", "ftplib", "glob", "gzip", "hashlib", "heapq", "hmac", "html", "http.client",
    "http.cookies", "imaplib", "ipaddress", "itertools", "json", "locale", "logging", "lzma", "mailbox",
    "math", "mimetypes", "os", "os.path", "pathlib", "pickle", "poplib", "queue", "random", "re", "secrets",
    "shutil", "smtplib", "socket", "sqlite3", "ssl", "statistics", "string", "struct", "subprocess",
    "tarfile", "tempfile", "textwrap", "threading", "time", "unicodedata", "urllib.parse", "urllib.request",
    "uuid", "wave", "xml.dom.minidom", "zipfile", "zlib", "asyncio", "concurrent.futures", "decimal",
    "functools", "operator", "shlex", "sched", "selectors", "signal", "bz2", "colorsys", "copy", "filecmp",
    "getpass", "gettext", "graphlib", "netrc", "platform", "pprint", "stat", "timeit", "zoneinfo",
]
OUT = Path(__file__).with_name("corpus.jsonl")


def summary(obj: object) -> str | None:
    doc = inspect.getdoc(obj)
    if not doc:
        return None
    first = re.split(r"\n\s*\n", doc.strip())[0]
    text = " ".join(first.split())
    # Signatures and stubs are not sentences.
    if len(text) < 25 or len(text) > 300 or "(" in text[:20] or not text[0].isupper():
        return None
    return text


def main() -> None:
    seen: set[str] = set()
    rows = []
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name, obj in sorted(vars(module).items()):
            home = getattr(obj, "__module__", None) or module_name
            if name.startswith("_") or home.lstrip("_").split(".")[0] != module_name.split(".")[0]:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj) or inspect.isbuiltin(obj)):
                continue
            members = [(f"{module_name}.{name}", obj)]
            if inspect.isclass(obj):
                members += [
                    (f"{module_name}.{name}.{attr}", member) for attr, member in sorted(vars(obj).items())
                    if not attr.startswith("_") and callable(member)
                ]
            for ident, member in members:
                text = summary(member)
                if text and text not in seen:
                    seen.add(text)
                    rows.append({"id": ident, "text": text})
    with OUT.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} texts -> {OUT}")


if __name__ == "__main__":
    main()
