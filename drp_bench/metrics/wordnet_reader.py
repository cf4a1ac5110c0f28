"""WordNet 3.0 for METEOR: NLTK's own reader, loaded in about a third of the time, same lookups.

When it loads, NLTK's ``WordNetCorpusReader`` maps WordNet 3.0 sense keys to the loaded
version's (``map_wn``), a map used only to read Open Multilingual Wordnet data; it reads
``index.sense`` twice (over half of the load time) and, for WordNet 3.0 itself, maps every
synset to itself. METEOR looks up English synonyms only, so :class:`EnglishWordNet` skips that
map, and reads the files NLTK parses once from start to end (``index.*``, ``*.exc``,
``lexnames``) with Python's buffered reader instead of NLTK's seekable one (the same lines; each
is split on white space). The data files (``data.*``), read by byte offset, go through NLTK's
reader as before, so ``synsets`` returns what ``nltk.corpus.wordnet.synsets`` returns.
"""

from __future__ import annotations

import gc
import os
import threading
import warnings
from typing import IO, Any

import nltk
from nltk.corpus.reader.wordnet import WordNetCorpusReader
from nltk.data import FileSystemPathPointer

_lock = threading.Lock()
_reader: EnglishWordNet | None = None


class EnglishWordNet(WordNetCorpusReader):
    """NLTK's WordNet reader without the multilingual (OMW) version map; English only."""

    def map_wn(self, version: str = "wordnet") -> None:
        """No map: it serves only multilingual lookups (``self.map30`` is then None)."""
        return None

    def open(self, file: str) -> IO[str] | Any:
        """Files read start to end: Python's text reader; data files: NLTK's seekable one."""
        sequential = file.startswith("index.") or file.endswith(".exc") or file == "lexnames"
        root = self._root
        if sequential and isinstance(root, FileSystemPathPointer) and os.sep not in file:
            return open(os.path.join(root.path, file), encoding=self._encoding)
        return super().open(file)


def load_english_wordnet() -> EnglishWordNet:
    """A new reader of the first ``corpora/wordnet`` on ``nltk.data.path``.

    The garbage collector is paused while it loads: the indexes are some 150,000 new dicts and
    lists (none of them garbage), and the collections they trigger take about a third of the
    load time."""
    root = nltk.data.find("corpora/wordnet")
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with warnings.catch_warnings():  # "The multilingual functions are not available ..."
            warnings.simplefilter("ignore", UserWarning)
            return EnglishWordNet(root, None)
    finally:
        if was_enabled:
            gc.enable()


def english_wordnet() -> EnglishWordNet:
    """This process's reader, loaded on first use."""
    global _reader
    with _lock:
        if _reader is None:
            _reader = load_english_wordnet()
        return _reader


def loaded_english_wordnet() -> EnglishWordNet | None:
    """This process's reader if it has been loaded, else None (nothing is loaded)."""
    return _reader
