"""The demonstration corpus: solved problems that a retriever may prepend to a test problem.

A record is (id, problem, solution trace, final answer, metadata). The bundled default is the
MATH training set (`tasks/data/math_train/train.jsonl`, 7,500 problems with worked solutions).
Any JSONL or Parquet file can be used with a field mapping:

    Corpus.load("openr1.parquet", fields="id=uuid,problem=problem,solution=solution,answer=answer")
    Corpus.load("deepscaler.jsonl")          # the common names are found without a mapping

The answer is the mapped column, else a column named like an answer (`answer`, `final_answer`, ...), else
the last `\\boxed{}` of the solution (the MATH files have no answer column).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from rarft_eval.errors import RarftError
from rarft_eval.tasks import default_tasks_dir, last_boxed

# Columns tried, in order, when the mapping does not name one.
_GUESSES: dict[str, tuple[str, ...]] = {
    "id": ("unique_id", "id", "uuid", "problem_id", "idx"),
    "problem": ("problem", "question", "instruction", "prompt", "query"),
    "solution": ("solution", "response", "reasoning", "generation", "output", "answer_detail"),
    "answer": ("answer", "final_answer", "ground_truth", "gt"),
}
_METADATA_GUESSES = ("type", "subject", "level", "difficulty", "source", "year")


def default_corpus_path() -> Path:
    """The bundled MATH training set."""
    return default_tasks_dir() / "data" / "math_train" / "train.jsonl"


def default_near_dups_path() -> Path:
    """Known MATH-500 / MATH-train near duplicates (4-gram Jaccard >= 0.5; 62 pairs)."""
    return default_tasks_dir() / "data" / "math_train" / "near_dups_vs_math500.jsonl"


@dataclass(frozen=True)
class CorpusRecord:
    id: str
    problem: str
    solution: str
    answer: str
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def text(self) -> str:
        """The demonstration as prepended: problem + solution trace."""
        return f"{self.problem}\n\n{self.solution}"


@dataclass(frozen=True)
class FieldMap:
    """Which column of a row holds each part of a record (None: guess, or derive the answer)."""

    id: str | None = None
    problem: str | None = None
    solution: str | None = None
    answer: str | None = None
    metadata: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, spec: str | Mapping[str, Any] | FieldMap | None) -> FieldMap:
        """`"id=uuid,problem=question,solution=response,metadata=type|level"` or a dict."""
        if spec is None:
            return cls()
        if isinstance(spec, FieldMap):
            return spec
        if isinstance(spec, str):
            items: dict[str, Any] = {}
            for part in filter(None, (p.strip() for p in spec.split(","))):
                key, sep, value = part.partition("=")
                if not sep or not value.strip():
                    raise RarftError(f"corpus field mapping {spec!r}: write KEY=COLUMN pairs separated by commas")
                items[key.strip()] = value.strip()
            spec = items
        known = {"id", "problem", "solution", "answer", "metadata"}
        unknown = set(spec) - known
        if unknown:
            raise RarftError(
                f"corpus field mapping: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}"
            )
        meta = spec.get("metadata")
        if isinstance(meta, str):
            meta = tuple(m for m in meta.replace("|", " ").split() if m)
        elif meta is not None:
            meta = tuple(meta)
        return cls(spec.get("id"), spec.get("problem"), spec.get("solution"), spec.get("answer"), meta)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "problem": self.problem, "solution": self.solution, "answer": self.answer,
                "metadata": list(self.metadata) if self.metadata is not None else None}


class Corpus(Sequence[CorpusRecord]):
    """An ordered, id-unique list of records with a content hash."""

    def __init__(self, records: Sequence[CorpusRecord], *, source: str = "<memory>", file_sha256: str | None = None,
                 fields: FieldMap | None = None):
        self.records: list[CorpusRecord] = list(records)
        if not self.records:
            raise RarftError(f"corpus {source} holds no records")
        self.source = source
        self.file_sha256 = file_sha256
        self.fields = fields or FieldMap()
        self._by_id: dict[str, int] = {}
        for i, rec in enumerate(self.records):
            if rec.id in self._by_id:
                raise RarftError(f"corpus {source}: duplicate id {rec.id!r}; map `id` to a unique column")
            self._by_id[rec.id] = i
        h = hashlib.sha256()
        for rec in self.records:
            h.update(json.dumps([rec.id, rec.problem, rec.solution, rec.answer], ensure_ascii=False).encode())
            h.update(b"\n")
        self.sha256 = h.hexdigest()

    # Sequence protocol
    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):  # type: ignore[override]
        return self.records[i]

    def __iter__(self) -> Iterator[CorpusRecord]:
        return iter(self.records)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.records]

    def position(self, record_id: str) -> int | None:
        return self._by_id.get(str(record_id))

    def get(self, record_id: str) -> CorpusRecord | None:
        i = self._by_id.get(str(record_id))
        return None if i is None else self.records[i]

    def texts(self, which: str = "problem") -> list[str]:
        """The text a retriever indexes: `problem` (default) or `problem+solution`."""
        if which == "problem":
            return [r.problem for r in self.records]
        if which in ("problem+solution", "text"):
            return [r.text for r in self.records]
        raise RarftError(f"unknown index_text {which!r}; use `problem` or `problem+solution`")

    def subset(self, n: int) -> Corpus:
        """The first `n` records (for tests and quick runs); its hash differs from the full corpus."""
        return Corpus(self.records[:n], source=f"{self.source}[:{n}]", file_sha256=self.file_sha256, fields=self.fields)

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "n_records": len(self), "sha256": self.sha256, "file_sha256": self.file_sha256,
                "fields": self.fields.to_dict()}

    @classmethod
    def load(cls, path: str | Path | None = None, fields: str | Mapping[str, Any] | FieldMap | None = None,
             limit: int | None = None) -> Corpus:
        """Read a JSONL or Parquet file (default: the bundled MATH train set)."""
        p = Path(path) if path is not None else default_corpus_path()
        fmap = FieldMap.parse(fields)
        if path is None and fields is None:
            fmap = FieldMap("unique_id", "problem", "solution", None, ("type", "level"))
        key = (str(p.resolve()), _stat_key(p), fmap, limit)
        cached = _LOAD_CACHE.get(key)
        if cached is not None:
            return cached
        if not p.exists():
            raise RarftError(f"corpus file {p} not found")
        suffix = "".join(p.suffixes[-2:]).lower()
        if suffix.endswith(".parquet"):
            rows = _parquet_rows(p)
        elif suffix.endswith((".jsonl", ".json", ".ndjson")):
            rows = _jsonl_rows(p)
        else:
            raise RarftError(f"corpus file {p}: unknown format; use .jsonl or .parquet")
        records: list[CorpusRecord] = []
        for lineno, row in rows:
            records.append(_record(row, fmap, p.name, lineno))
            if limit is not None and len(records) >= limit:
                break
        corpus = cls(records, source=str(p), file_sha256=_sha256_file(p), fields=fmap)
        if len(_LOAD_CACHE) > 8:
            _LOAD_CACHE.clear()
        _LOAD_CACHE[key] = corpus
        return corpus


_LOAD_CACHE: dict[tuple, Corpus] = {}


def _stat_key(p: Path) -> tuple[int, int] | None:
    try:
        st = p.stat()
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


def _sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _jsonl_rows(p: Path) -> Iterator[tuple[int, dict]]:
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise RarftError(f"corpus {p.name}:{lineno}: malformed JSON ({exc.msg}); fix or remove that line") from None
            if not isinstance(row, dict):
                raise RarftError(f"corpus {p.name}:{lineno}: a row must be a JSON object")
            yield lineno, row


def _parquet_rows(p: Path) -> Iterator[tuple[int, dict]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise RarftError(f"corpus {p.name}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        table = pq.read_table(p)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises many types
        raise RarftError(f"corpus {p.name}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    for i, row in enumerate(table.to_pylist(), 1):
        yield i, row


def _pick(row: dict, column: str | None, key: str) -> str | None:
    if column is not None:
        return column
    for guess in _GUESSES[key]:
        if guess in row:
            return guess
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_BARE_BOXED = re.compile(r"\\boxed\s+([^\s${}]+)")


def answer_from_solution(solution: str) -> str:
    """The last `\\boxed{...}`; also `\\boxed 2` without braces (2 MATH train solutions are written so)."""
    boxed = last_boxed(solution)
    if boxed is not None:
        return boxed.strip()
    bare = _BARE_BOXED.findall(solution)
    return bare[-1].rstrip(".") if bare else ""


def _record(row: dict, fmap: FieldMap, name: str, lineno: int) -> CorpusRecord:
    where = f"corpus {name}:{lineno}"
    values: dict[str, str] = {}
    for key in ("problem", "solution"):
        col = _pick(row, getattr(fmap, key), key)
        if col is None or row.get(col) in (None, ""):
            wanted = col or "|".join(_GUESSES[key])
            raise RarftError(f"{where}: no `{wanted}` for the {key}; map it with fields=\"{key}=COLUMN\"")
        values[key] = _as_text(row[col])
    id_col = _pick(row, fmap.id, "id")
    if fmap.id is not None and row.get(fmap.id) is None:
        raise RarftError(f"{where}: no `{fmap.id}` (mapped to id)")
    rid = _as_text(row[id_col]) if id_col is not None and row.get(id_col) is not None else str(lineno - 1)
    ans_col = fmap.answer
    if ans_col is not None:
        if row.get(ans_col) is None:
            raise RarftError(f"{where}: no `{ans_col}` (mapped to answer)")
        answer = _as_text(row[ans_col])
    else:
        col = next((g for g in _GUESSES["answer"] if row.get(g) not in (None, "")), None)
        answer = _as_text(row[col]) if col else answer_from_solution(values["solution"])
    meta_cols = fmap.metadata if fmap.metadata is not None else tuple(c for c in _METADATA_GUESSES if c in row)
    metadata = {c: row[c] for c in meta_cols if c in row}
    return CorpusRecord(rid, values["problem"], values["solution"], answer.strip(), metadata)
