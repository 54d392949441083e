"""What search indexes and matches: text folded (NFKC, lower case) and CJK runs as bigrams.

FTS5's `unicode61` and PostgreSQL's `simple` parser make one token of a run of
Chinese characters, so `星河科技` would never match `深圳星河科技有限公司`. Like
Elasticsearch's `cjk` analyzer, every run of Han, kana or Hangul characters is
indexed as its overlapping bigrams (`深圳 圳星 星河 河科 ...`), and a query run
becomes the phrase of its bigrams (`星河 <-> 河科 <-> 科技`): a match is exactly
a substring of two or more characters, on both back ends. Other text is folded
(full-width `ＡＢＣ` is `abc`) and left for the back end's word tokenizer.

`search_document` is registered as an SQLite function (the FTS5 triggers call it);
`PG_FUNCTION` is the same function in PL/pgSQL for PostgreSQL's expression index.
Both must produce the same tokens: a test holds them together.
"""

from __future__ import annotations

import re
import unicodedata

# Han (with extension A and compatibility ideographs), kana, Hangul syllables
CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_SEGMENT = re.compile(f"([{CJK_CLASS}]+)|([^{CJK_CLASS}]+)")
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 8


def fold(text: str) -> str:
    """Full-width forms to ASCII, compatibility forms composed, lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def search_document(text: str | None) -> str | None:
    """The text the index tokenizes: CJK runs as space-separated bigrams, the rest folded."""
    if text is None:
        return None
    parts: list[str] = []
    for cjk, other in _SEGMENT.findall(fold(text)):
        parts.extend(_bigrams(cjk) if cjk else [other])
    return " ".join(parts)


def query_terms(q: str | None) -> list[tuple[str, ...]]:
    """A query's terms: a Latin word is a 1-tuple (matched as a prefix), a CJK run of two
    or more characters the tuple of its bigrams (matched as a phrase), one CJK character
    a 1-tuple (a prefix of a bigram). Query syntax never passes through: words only."""
    terms: list[tuple[str, ...]] = []
    for cjk, other in _SEGMENT.findall(fold(q or "")):
        if cjk:
            terms.append(tuple(_bigrams(cjk)))
        else:
            terms.extend((w,) for w in _WORD.findall(other))
    return terms[:MAX_TERMS]


# The same as search_document, for PostgreSQL (IMMUTABLE: usable in an index).
PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION metacrm_search_document(doc text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
DECLARE
  out text[] := ARRAY[]::text[];
  seg text;
  i int;
BEGIN
  FOR seg IN SELECT m[1] FROM regexp_matches(
      lower(normalize(doc, NFKC)), '[{CJK_CLASS}]+|[^{CJK_CLASS}]+', 'g') AS m LOOP
    IF seg ~ '^[{CJK_CLASS}]' THEN
      IF length(seg) = 1 THEN
        out := out || seg;
      ELSE
        FOR i IN 1 .. length(seg) - 1 LOOP
          out := out || substr(seg, i, 2);
        END LOOP;
      END IF;
    ELSE
      out := out || seg;
    END IF;
  END LOOP;
  RETURN array_to_string(out, ' ');
END
$fn$
"""
