"""The two embedding spaces: syntactic (loop-nest / schedule tokens) and hardware-aligned semantic features."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from .entry import KnowledgeEntry
from .source import KnowledgeQuery

SYN_DIMS = 64
SEM_TEXT_DIMS = 48
RANDOM_STATE = 0

# Canonical structure of each op class in the token language of `Workload.syntactic_text()`
# (pattern_<S|R per loop>, iters_N, reduce_N, rank_N of the output, blocks_N, intrin_<name>).
OP_SHAPE_TOKENS: dict[str, tuple[str, ...]] = {
    "matmul": ("pattern_ssr", "iters_3", "reduce_1", "rank_2"),
    "batch_matmul": ("pattern_sssr", "iters_4", "reduce_1", "rank_3"),
    "conv2d": ("pattern_ssssrrr", "iters_7", "reduce_3", "rank_4"),
    "depthwise_conv2d": ("pattern_ssssrr", "iters_6", "reduce_2", "rank_4"),
    "pool": ("pattern_ssssrr", "iters_6", "reduce_2", "rank_4"),
    "reduction": ("pattern_sr", "iters_2", "reduce_1", "rank_1"),
    "softmax": ("pattern_sr", "reduce_1", "rank_2", "intrin_exp", "blocks_4"),
    "norm": ("pattern_sr", "reduce_1", "rank_2", "intrin_rsqrt", "blocks_3"),
    "elementwise": ("pattern_ss", "reduce_0", "blocks_1"),
    "injective": ("pattern_ss", "reduce_0", "blocks_1"),
}
# Trigger words that speak about structure (they join the syntactic space as w_<word>).
_STRUCTURE_TEXT = (
    "epilogue prologue fused fusion batch batched rows row columns column channels channel width height "
    "innermost outer inner reduction reduce broadcast transpose layout stride strided window padding pad tail "
    "depthwise bias relu cast elementwise injective contiguous spatial nchw nhwc nested loop loops tile tiles "
    "tiling vectorizable gather concat"
)
STRUCTURE_WORDS = frozenset(_STRUCTURE_TEXT.split())
_STOP_TEXT = (
    "a an the and or of to in on for with by is are be as at it its this that from into than then so not no "
    "each per when which while can may must only one two both too very"
)
_STOP = frozenset(_STOP_TEXT.split())
_WORD = re.compile(r"[a-z][a-z0-9_]+")
_PRIM = re.compile(r"sch\.(\w+)\s*\(")
_HWKEY = re.compile(r"HW\[\s*['\"](\w+)['\"]\s*\]")
_SCOPE = re.compile(r"['\"]((?:global|shared|local)\.\w+)['\"]")


def normalise_level(level: Any) -> str | None:
    """A memory level tag from a tag or a scope string: 'local.l0a' -> 'l0a', 'global' -> 'gm'."""
    if level is None or level == "":
        return None
    text = str(level).strip().lower()
    if text in ("global", "gm", "dram", "offchip"):
        return "gm"
    return text.rsplit(".", 1)[-1]


def words(text: str) -> list[str]:
    """Lower-case word tokens without stop words."""
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def template_tokens(template: str) -> list[str]:
    """Schedule-primitive, HW-fact and scope tokens of a template."""
    toks = [f"prim_{m}" for m in _PRIM.findall(template)]
    toks += [f"hw_{k.lower()}" for k in _HWKEY.findall(template)]
    toks += [f"scope_{normalise_level(s)}" for s in _SCOPE.findall(template)]
    return toks


def entry_syntactic_tokens(entry: KnowledgeEntry) -> list[str]:
    """Tokens of an entry in the syntactic space: op classes, their loop patterns, patterns, template, words."""
    toks: list[str] = []
    for op in entry.op_classes:
        toks.append(f"op_{op}")
        toks.extend(OP_SHAPE_TOKENS.get(op, ()))
    toks.extend(p.lower() for p in entry.patterns)
    toks.extend(template_tokens(entry.template))
    toks.extend(f"w_{w}" for w in words(entry.trigger.text) if w in STRUCTURE_WORDS)
    return toks


def query_syntactic_tokens(query: KnowledgeQuery) -> list[str]:
    """Tokens of a query in the syntactic space (its syntactic_text plus its op class).

    Free text (`hawk kb search`) maps into the same vocabulary as entries: structure words become w_<word>
    and op-class names op_<class>; without this a text query has no syntactic coordinates at all.
    """
    toks = [t.lower() for t in query.syntactic_text.split()]
    for w in words(query.syntactic_text):
        if w in STRUCTURE_WORDS:
            toks.append(f"w_{w}")
        if w in OP_SHAPE_TOKENS:
            toks.append(f"op_{w}")
    if query.op_class and f"op_{query.op_class}" not in toks:
        toks.append(f"op_{query.op_class}")
    return toks


# Categorical fields of the semantic space and their block weights.
SEM_FIELDS: tuple[str, ...] = ("kind", "bottleneck", "unit", "level", "error_kind", "dtype", "op_class")
SEM_WEIGHTS: dict[str, float] = {
    "kind": 1.0,
    "bottleneck": 1.0,
    "unit": 1.0,
    "level": 1.0,
    "error_kind": 1.0,
    "dtype": 0.7,
    "op_class": 0.7,
    "text": 1.5,
}
# Error queries: the error's kind and level dominate.
ERROR_QUERY_BOOST: dict[str, float] = {"kind": 2.0, "error_kind": 4.0, "level": 2.5}


def entry_semantic_facts(entry: KnowledgeEntry) -> dict[str, list[str]]:
    """Categorical hardware facts of an entry."""
    t = entry.trigger
    dtypes = [p[len("dtype_") :] for p in entry.patterns if p.startswith("dtype_")]
    return {
        "kind": [t.kind],
        "bottleneck": [t.bottleneck] if t.bottleneck else [],
        "unit": [t.unit] if t.unit else [],
        "level": [lv] if (lv := normalise_level(t.level)) else [],
        "error_kind": [t.error_kind] if t.error_kind else [],
        "dtype": dtypes,
        "op_class": list(entry.op_classes),
    }


def entry_semantic_text(entry: KnowledgeEntry) -> list[str]:
    """Word tokens of an entry's trigger text and rationale."""
    return words(entry.trigger.text + " " + entry.trigger.text + " " + entry.rationale)


def query_semantic_facts(query: KnowledgeQuery) -> dict[str, list[str]]:
    """Categorical hardware facts of a query (its semantic dict and its error)."""
    sem = query.semantic or {}
    facts: dict[str, list[str]] = {f: [] for f in SEM_FIELDS}
    for f in ("bottleneck", "unit", "dtype", "error_kind"):
        if sem.get(f):
            facts[f] = [str(sem[f])]
    if lv := normalise_level(sem.get("level")):
        facts["level"] = [lv]
    facts["op_class"] = [str(sem.get("op_class") or query.op_class)] if (sem.get("op_class") or query.op_class) else []
    err = query.error
    if err is not None:
        facts["kind"] = ["error"]
        facts["error_kind"] = [err.kind]
        ctx = err.context or {}
        if lv := normalise_level(ctx.get("level") or ctx.get("scope")):
            facts["level"] = [lv]
        if ctx.get("unit"):
            facts["unit"] = [str(ctx["unit"])]
    elif facts["error_kind"]:
        facts["kind"] = ["error"]
    else:
        facts["kind"] = ["pattern"]
    return facts


def query_semantic_text(query: KnowledgeQuery) -> list[str]:
    """Word tokens of a query's free text (semantic['text'] and the error message/signature)."""
    sem = query.semantic or {}
    parts = [str(sem.get("text") or "")]
    if query.error is not None:
        parts += [query.error.message, query.error.signature().replace(".", " ")]
    return words(" ".join(parts))


@dataclass
class TextSpace:
    """A fitted TF-IDF (sublinear tf, l2) + truncated-SVD projection, kept as plain arrays."""

    vocabulary: dict[str, int]
    idf: np.ndarray  # (V,)
    components: np.ndarray  # (d, V)

    @property
    def dims(self) -> int:
        """Output dimensions."""
        return int(self.components.shape[0])

    @staticmethod
    def fit(docs: list[list[str]], dims: int, random_state: int = RANDOM_STATE) -> TextSpace:
        """Fit on token lists (deterministic for a fixed random_state)."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, norm="l2", min_df=1)
        try:
            x = vec.fit_transform(docs)
        except ValueError:  # empty vocabulary
            return TextSpace({}, np.zeros(0, np.float32), np.zeros((1, 0), np.float32))
        vocab = {t: int(i) for t, i in vec.vocabulary_.items()}
        n_feat = x.shape[1]
        if n_feat <= dims or x.shape[0] < 2:
            comps = np.eye(n_feat, dtype=np.float32)
        else:
            k = min(dims, n_feat - 1)
            svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=7, random_state=random_state)
            svd.fit(x)
            comps = svd.components_.astype(np.float32)
        return TextSpace(vocab, vec.idf_.astype(np.float32), comps)

    def transform_one(self, tokens: list[str]) -> np.ndarray:
        """Project one token list (same arithmetic as TfidfVectorizer + TruncatedSVD.transform)."""
        counts = Counter(t for t in tokens if t in self.vocabulary)
        if not counts:
            return np.zeros(self.dims, np.float32)
        idx = np.fromiter((self.vocabulary[t] for t in counts), np.int64, len(counts))
        tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), np.float32, len(counts))
        w = tf * self.idf[idx]
        w /= np.linalg.norm(w) or 1.0
        return self.components[:, idx] @ w

    def transform(self, docs: list[list[str]]) -> np.ndarray:
        """Project many token lists (sparse arithmetic, for index builds)."""
        from scipy.sparse import csr_matrix

        if not self.vocabulary:
            return np.zeros((len(docs), self.dims), np.float32)
        rows, cols, vals = [], [], []
        for r, doc in enumerate(docs):
            counts = Counter(t for t in doc if t in self.vocabulary)
            if not counts:
                continue
            idx = [self.vocabulary[t] for t in counts]
            w = np.array([1.0 + math.log(c) for c in counts.values()], np.float32) * self.idf[idx]
            w /= np.linalg.norm(w) or 1.0
            rows.extend([r] * len(idx))
            cols.extend(idx)
            vals.extend(w.tolist())
        x = csr_matrix((vals, (rows, cols)), shape=(len(docs), len(self.vocabulary)), dtype=np.float32)
        return np.asarray(x @ self.components.T, dtype=np.float32)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Arrays for np.savez."""
        return {
            f"{prefix}_vocab": np.array(json.dumps(self.vocabulary, sort_keys=True)),
            f"{prefix}_idf": self.idf,
            f"{prefix}_components": self.components,
        }

    @staticmethod
    def from_arrays(arrays: Any, prefix: str) -> TextSpace:
        """Inverse of `to_arrays`."""
        vocab = json.loads(str(arrays[f"{prefix}_vocab"]))
        return TextSpace(vocab, np.asarray(arrays[f"{prefix}_idf"]), np.asarray(arrays[f"{prefix}_components"]))


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def _unit_rows(m: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(m, axis=1, keepdims=True)
    n[n == 0] = 1.0
    return (m / n).astype(np.float32)


@dataclass
class SyntacticSpace:
    """TF-IDF over normalised loop-nest / schedule tokens, reduced with truncated SVD."""

    text: TextSpace

    @staticmethod
    def fit(entries: list[KnowledgeEntry], dims: int = SYN_DIMS) -> SyntacticSpace:
        """Fit on the entries' syntactic tokens."""
        return SyntacticSpace(TextSpace.fit([entry_syntactic_tokens(e) for e in entries], dims))

    @property
    def dims(self) -> int:
        """Vector dimensions."""
        return self.text.dims

    def embed_entries(self, entries: list[KnowledgeEntry]) -> np.ndarray:
        """Unit vectors of entries."""
        return _unit_rows(self.text.transform([entry_syntactic_tokens(e) for e in entries]))

    def embed_query(self, query: KnowledgeQuery) -> np.ndarray:
        """Unit vector of a query."""
        return _unit(self.text.transform_one(query_syntactic_tokens(query))).astype(np.float32)


@dataclass
class SemanticSpace:
    """Weighted one-hot blocks of hardware facts (kind, bottleneck, unit, level, error kind, dtype, op class)
    concatenated with the reduced TF-IDF of trigger text and rationale."""

    categories: dict[str, list[str]]
    text: TextSpace

    @staticmethod
    def fit(entries: list[KnowledgeEntry], dims: int = SEM_TEXT_DIMS) -> SemanticSpace:
        """Fit the categorical vocabularies (sorted, deterministic) and the text projection."""
        cats: dict[str, set[str]] = {f: set() for f in SEM_FIELDS}
        cats["kind"] |= {"pattern", "error"}
        for e in entries:
            for f, values in entry_semantic_facts(e).items():
                cats[f].update(values)
        text = TextSpace.fit([entry_semantic_text(e) for e in entries], dims)
        return SemanticSpace({f: sorted(v) for f, v in cats.items()}, text)

    @property
    def dims(self) -> int:
        """Vector dimensions."""
        return sum(len(v) for v in self.categories.values()) + self.text.dims

    def _facts_vector(self, facts: dict[str, list[str]], weights: dict[str, float]) -> np.ndarray:
        parts = []
        for f in SEM_FIELDS:
            vocab = self.categories[f]
            block = np.zeros(len(vocab), np.float32)
            hits = [vocab.index(v) for v in facts.get(f, []) if v in vocab]
            if hits:
                block[hits] = 1.0 / math.sqrt(len(hits))
            parts.append(block * weights[f])
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)

    def embed_entries(self, entries: list[KnowledgeEntry]) -> np.ndarray:
        """Unit vectors of entries."""
        text = _unit_rows(self.text.transform([entry_semantic_text(e) for e in entries])) * SEM_WEIGHTS["text"]
        facts = np.stack([self._facts_vector(entry_semantic_facts(e), SEM_WEIGHTS) for e in entries]) if entries \
            else np.zeros((0, self.dims - self.text.dims), np.float32)
        return _unit_rows(np.concatenate([facts, text], axis=1))

    def embed_query(self, query: KnowledgeQuery) -> np.ndarray:
        """Unit vector of a query; error queries weight error kind and level heavily."""
        weights = dict(SEM_WEIGHTS)
        if query.error is not None or (query.semantic or {}).get("error_kind"):
            for f, boost in ERROR_QUERY_BOOST.items():
                weights[f] *= boost
        facts = self._facts_vector(query_semantic_facts(query), weights)
        text = _unit(self.text.transform_one(query_semantic_text(query))) * weights["text"]
        return _unit(np.concatenate([facts, text]).astype(np.float32)).astype(np.float32)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays for np.savez."""
        return {"sem_categories": np.array(json.dumps(self.categories, sort_keys=True)), **self.text.to_arrays("sem")}

    @staticmethod
    def from_arrays(arrays: Any) -> SemanticSpace:
        """Inverse of `to_arrays`."""
        return SemanticSpace(json.loads(str(arrays["sem_categories"])), TextSpace.from_arrays(arrays, "sem"))
