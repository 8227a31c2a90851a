"""An in-process search engine for argilla-server 2.8, selected with ARGILLA_SEARCH_ENGINE=inprocess.

argilla-server keeps records in its SQL database and asks a search engine (Elasticsearch or OpenSearch) for
everything the UI lists: the annotation queue (filters by response status), metadata and suggestion filters and
sorts, text search, per-user progress, metadata metrics and "find similar" by vector. This engine answers the same
calls from Python dicts held in the server process, mirroring `argilla_server.search_engine.commons`
(BaseElasticAndOpenSearchEngine): each record is one document shaped like the Elasticsearch one, and each query
reproduces the Elasticsearch query that engine would send.

Documented differences from Elasticsearch:
- text search supports the subset of `simple_query_string` people type (words, "quoted phrases", `-word`,
  `prefix*`, `a | b`), scored with BM25 over the record's text fields;
- per-user progress counts only that user's responses (Elasticsearch's aggregation also counted the other
  annotators' responses on the records that user answered);
- "random" per-user ordering hashes (user, record) instead of (user, _seq_no), so it survives restarts.

The index lives in memory: on the first use in a process it is rebuilt from the database (`reindex_all`), so a
restarted server sees every dataset, record, response and suggestion it had. One uvicorn worker only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

import numpy as np
from argilla_server.enums import MetadataPropertyType, ResponseStatusFilter, SimilarityOrder, SortOrder
from argilla_server.models import Dataset, MetadataProperty, Record, Response, Suggestion, User, VectorSettings
from argilla_server.search_engine.base import (
    AndFilter,
    Filter,
    FilterScope,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataFilterScope,
    MetadataMetrics,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    SuggestionFilterScope,
    TermsFilter,
    TermsMetrics,
    TextQuery,
)

ENGINE_NAME = "inprocess"
_LOGGER = logging.getLogger("argilla.inprocess_search")
_TOKEN = re.compile(r"\w+", re.UNICODE)
_BM25_K1, _BM25_B = 1.2, 0.75


def tokens(text: str) -> list[str]:
    """Elasticsearch's standard analyzer, near enough: Unicode word runs, lower-cased."""
    return [token.lower() for token in _TOKEN.findall(text)]


@dataclass
class Document:
    """One record as the Elasticsearch engine indexes it (`_map_record_to_es_document`)."""

    id: str
    external_id: str | None
    status: str
    inserted_at: datetime | None
    updated_at: datetime | None
    fields: dict[str, Any]
    metadata: dict[str, Any]
    responses: list[dict[str, Any]]
    suggestions: dict[str, dict[str, Any]]
    vectors: dict[str, np.ndarray]  # vector settings id -> L2-normalized vector
    field_tokens: dict[str, list[str]] = field(default_factory=dict)  # text field -> analyzed tokens

    def value_of(self, name: str) -> Any:
        return getattr(self, name, None)


@dataclass
class Index:
    documents: dict[str, Document] = field(default_factory=dict)


# dataset id -> index; one per server process (the server must run a single worker)
_INDEXES: dict[str, Index] = {}
_loaded = False
_load_lock: asyncio.Lock | None = None


def _text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):  # a chat field: [{"role": ..., "content": ...}]
        return "\n".join(str(item.get("content", "")) if isinstance(item, dict) else str(item) for item in value)
    return str(value)


def _response_document(response: Response) -> dict[str, Any]:
    return {
        "id": str(response.id),
        "status": str(response.status.value if hasattr(response.status, "value") else response.status),
        "user_id": str(response.user_id),
        **{question: (value or {}).get("value") for question, value in (response.values or {}).items()},
    }


def _suggestion_document(suggestion: Suggestion) -> dict[str, Any]:
    return {
        "type": str(suggestion.type.value) if suggestion.type is not None else None,
        "agent": suggestion.agent,
        "score": suggestion.score,
        "value": suggestion.value,
    }


def _unit(vector: Iterable[float]) -> np.ndarray:
    array = np.asarray(list(vector), dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


def _document(dataset: Dataset, record: Record) -> Document:
    fields = {}
    field_tokens = {}
    for dataset_field in dataset.fields:
        if dataset_field.is_image:
            continue  # the Elasticsearch engine excludes image fields from _source
        value = (record.fields or {}).get(dataset_field.name)
        if dataset_field.is_custom and value is not None:
            value = str(value)
        fields[dataset_field.name] = value
        field_tokens[dataset_field.name] = tokens(_text_of(value))
    metadata = {
        prop.name: (record.metadata_ or {})[prop.name]
        for prop in dataset.metadata_properties
        if (record.metadata_ or {}).get(prop.name) is not None
    }
    return Document(
        id=str(record.id),
        external_id=record.external_id,
        status=str(record.status.value if hasattr(record.status, "value") else record.status),
        inserted_at=record.inserted_at,
        updated_at=record.updated_at,
        fields=fields,
        metadata=metadata,
        responses=[_response_document(response) for response in record.responses],
        suggestions={suggestion.question.name: _suggestion_document(suggestion) for suggestion in record.suggestions},
        vectors={str(vector.vector_settings_id): _unit(vector.value) for vector in record.vectors},
        field_tokens=field_tokens,
    )


# ---------------------------------------------------------------------------------------------------- filters


def _numbers_equal(left: Any, right: str) -> bool:
    try:
        return float(left) == float(right)
    except (TypeError, ValueError):
        return False


def _term_matches(value: Any, values: list[str]) -> bool:
    """An Elasticsearch `terms` query on a keyword or numeric field; a list value matches when any item does."""
    if value is None:
        return False
    if isinstance(value, list):
        return any(_term_matches(item, values) for item in value)
    if isinstance(value, bool):
        value = str(value).lower()
    return any(str(value) == wanted or _numbers_equal(value, wanted) for wanted in values)


def _comparable(value: Any, bound: float | str) -> tuple[Any, Any]:
    """Bring a range bound and a document value to one type (dates compare as datetimes, like Elasticsearch's)."""
    if isinstance(value, datetime):
        if isinstance(bound, str):
            parsed = datetime.fromisoformat(bound.replace("Z", "+00:00"))
        else:  # epoch milliseconds
            parsed = datetime.fromtimestamp(float(bound) / 1000, tz=timezone.utc)
        if (parsed.tzinfo is None) != (value.tzinfo is None):
            parsed = parsed.replace(tzinfo=None) if value.tzinfo is None else parsed.replace(tzinfo=timezone.utc)
        return value, parsed
    return float(value), float(bound)


def _in_range(value: Any, ge: float | str | None, le: float | str | None) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(_in_range(item, ge, le) for item in value)
    try:
        if ge is not None:
            left, right = _comparable(value, ge)
            if left < right:
                return False
        if le is not None:
            left, right = _comparable(value, le)
            if left > right:
                return False
    except (TypeError, ValueError):
        return False
    return True


def _value_matches(filter: Filter, value: Any) -> bool:
    if isinstance(filter, TermsFilter):
        return _term_matches(value, list(filter.values))
    if isinstance(filter, RangeFilter):
        return _in_range(value, filter.ge, filter.le)
    raise ValueError(f"Cannot process request for filter {filter}")


def _scope_value(document: Document, scope: FilterScope) -> Any:
    if isinstance(scope, MetadataFilterScope):
        return document.metadata.get(scope.metadata_property)
    if isinstance(scope, SuggestionFilterScope):
        return document.suggestions.get(scope.question, {}).get(scope.property)
    if isinstance(scope, RecordFilterScope):
        return document.value_of(scope.property)
    raise ValueError(f"Cannot process request for search scope {scope}")


def _responses_of(document: Document, user: User | None) -> list[dict[str, Any]]:
    if user is None:
        return document.responses
    return [response for response in document.responses if response["user_id"] == str(user.id)]


def _response_status_matches(document: Document, filter: TermsFilter) -> bool:
    """`_response_status_filter_to_es_filter`: "pending" means no response (from that user, when one is given)."""
    scope: ResponseFilterScope = filter.scope
    statuses = [str(value) for value in filter.values]
    responses = _responses_of(document, scope.user)
    if ResponseStatusFilter.pending in statuses and not responses:
        return True
    wanted = [status for status in statuses if status != ResponseStatusFilter.pending]
    if not wanted and ResponseStatusFilter.pending in statuses:
        return False
    if not wanted:
        return bool(responses)
    return any(response["status"] in wanted for response in responses)


def _matches(document: Document, filter: Filter | None) -> bool:
    if filter is None:
        return True
    if isinstance(filter, AndFilter):
        return all(_matches(document, inner) for inner in filter.filters)
    scope = filter.scope
    if isinstance(scope, ResponseFilterScope):
        if scope.question:
            # one nested response must match the question's value (and belong to the user, when one is given)
            return any(_value_matches(filter, r.get(scope.question)) for r in _responses_of(document, scope.user))
        if scope.property == "status" and isinstance(filter, TermsFilter):
            return _response_status_matches(document, filter)
        raise ValueError(f"Cannot process filter scope {scope}")
    return _value_matches(filter, _scope_value(document, scope))


# ---------------------------------------------------------------------------------------------------- text search


@dataclass
class _Clause:
    terms: list[str]  # one term, or a phrase
    negated: bool = False
    prefix: bool = False  # the last term is a prefix ("ind*")


def parse_simple_query(query: str) -> list[list[_Clause]]:
    """`simple_query_string` with default_operator AND: alternatives split by `|`, each a list of clauses."""
    alternatives = []
    for alternative in query.split("|"):
        clauses = []
        for match in re.finditer(r'(-?)"([^"]*)"|(\S+)', alternative):
            if match.group(3) is not None:
                raw = match.group(3)
                negated = raw.startswith("-") and len(raw) > 1
                raw = raw.lstrip("+-")
                prefix = raw.endswith("*")
                terms = tokens(raw)
            else:
                negated, prefix, terms = bool(match.group(1)), False, tokens(match.group(2))
            if terms:
                clauses.append(_Clause(terms, negated, prefix))
        if clauses:
            alternatives.append(clauses)
    return alternatives


def _positions(field_tokens: list[str], clause: _Clause) -> int:
    """How many times the clause (a term, a prefix or a phrase) occurs in the field."""
    size = len(clause.terms)
    count = 0
    for start in range(len(field_tokens) - size + 1):
        window = field_tokens[start : start + size]
        if window[:-1] != clause.terms[:-1]:
            continue
        last = window[-1]
        if last == clause.terms[-1] or (clause.prefix and last.startswith(clause.terms[-1])):
            count += 1
    return count


def _text_scores(documents: list[Document], fields: list[str], query: str) -> dict[str, float]:
    """BM25 scores of the documents matching `query`: per clause the best field's score, summed over clauses."""
    alternatives = parse_simple_query(query)
    if not alternatives:
        return {document.id: 1.0 for document in documents}
    lengths = {name: [len(d.field_tokens.get(name, [])) for d in documents] for name in fields}
    average = {name: (sum(values) / len(values) if values else 0.0) or 1.0 for name, values in lengths.items()}
    scores: dict[str, float] = {}
    for clauses in alternatives:
        # occurrences of each clause in each field of each document, and the clause's idf per field
        counts = {
            (c, name): [_positions(d.field_tokens.get(name, []), clause) for d in documents]
            for c, clause in enumerate(clauses)
            for name in fields
        }
        idf = {
            key: math.log(1 + (len(documents) - df + 0.5) / (df + 0.5))
            for key, df in ((key, sum(1 for n in column if n)) for key, column in counts.items())
        }
        for row, document in enumerate(documents):
            score, matched = 0.0, True
            for c, clause in enumerate(clauses):
                best, found = 0.0, False
                for name in fields:
                    tf = counts[c, name][row]
                    if tf:
                        found = True
                        norm = _BM25_K1 * (1 - _BM25_B + _BM25_B * lengths[name][row] / average[name])
                        best = max(best, idf[c, name] * tf * (_BM25_K1 + 1) / (tf + norm))
                if found == clause.negated:
                    matched = False
                    break
                score += best
            if matched:
                scores[document.id] = max(scores.get(document.id, 0.0), score or 1.0)
    return scores


def _query_fields(dataset: Dataset, query: TextQuery) -> list[str]:
    if query.field:
        if dataset.field_by_name(query.field) is None:
            raise Exception(f"Field {query.field} not found in dataset {dataset.id}")
        return [query.field]
    return [f.name for f in dataset.fields if not f.is_image]


# ---------------------------------------------------------------------------------------------------- sorting


def _sort_value(document: Document, order: Order) -> Any:
    scope = order.scope
    if isinstance(scope, ResponseFilterScope):
        # `_response_order_to_es_order`: the average over the (user's) responses, mode avg
        name = scope.question or scope.property
        values = [r.get(name) for r in _responses_of(document, scope.user) if r.get(name) is not None]
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            return sum(numbers) / len(numbers)
        return min((str(v) for v in values), default=None)
    return _scope_value(document, scope)


def _sort_documents(documents: list[Document], sort: list[Order]) -> list[Document]:
    """Stable multi-key sort; documents without a value go last in either direction, as in Elasticsearch."""
    for order in reversed(sort):
        present = [d for d in documents if _sort_value(d, order) is not None]
        missing = [d for d in documents if _sort_value(d, order) is None]
        present.sort(key=lambda d: _sort_key(_sort_value(d, order)), reverse=order.order == SortOrder.desc)
        documents = present + missing
    return documents


def _sort_key(value: Any) -> tuple:
    if isinstance(value, datetime):
        return (0, value.timestamp() if value.tzinfo else value.replace(tzinfo=timezone.utc).timestamp(), "")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, str(value))


def _user_shuffle(user_id: Any, record_id: str) -> float:
    """A per-user pseudo-random score in (0, 1], stable for a (user, record): the queue order each annotator sees."""
    digest = hashlib.blake2b(f"{user_id}:{record_id}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 1) / 2**64


# ---------------------------------------------------------------------------------------------------- the engine


@SearchEngine.register(engine_name=ENGINE_NAME)
class InProcessSearchEngine(SearchEngine):
    @classmethod
    async def new_instance(cls) -> InProcessSearchEngine:
        await reindex_all()
        return cls()

    async def close(self):
        pass

    async def ping(self) -> bool:
        return True

    async def info(self) -> dict:
        return {
            "distribution": ENGINE_NAME,
            "version": "1",
            "datasets": len(_INDEXES),
            "records": sum(len(index.documents) for index in _INDEXES.values()),
        }

    # -- index lifecycle

    async def create_index(self, dataset: Dataset):
        _INDEXES.setdefault(str(dataset.id), Index())

    async def delete_index(self, dataset: Dataset):
        _INDEXES.pop(str(dataset.id), None)

    async def configure_metadata_property(self, dataset: Dataset, metadata_property: MetadataProperty):
        pass  # schemaless: like an Elasticsearch mapping update, it applies to records indexed from now on

    async def configure_index_vectors(self, vector_settings: VectorSettings):
        pass

    def _index(self, dataset_id: Any) -> Index:
        return _INDEXES.setdefault(str(dataset_id), Index())

    # -- documents

    async def index_records(self, dataset: Dataset, records: Iterable[Record]):
        index = self._index(dataset.id)
        for record in records:
            index.documents[str(record.id)] = _document(dataset, record)

    async def partial_record_update(self, record: Record, **update):
        document = self._index(record.dataset_id).documents.get(str(record.id))
        if document is None:
            _LOGGER.warning("partial update of record %s, which is not indexed", record.id)
            return
        for name, value in update.items():
            if name == "status" and hasattr(value, "value"):
                value = value.value
            setattr(document, name, value)

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]):
        documents = self._index(dataset.id).documents
        for record in records:
            documents.pop(str(record.id), None)

    async def update_record_response(self, response: Response):
        document = self._index(response.record.dataset_id).documents.get(str(response.record_id))
        if document is None:
            _LOGGER.warning("response to record %s, which is not indexed", response.record_id)
            return
        mapped = _response_document(response)
        document.responses = [r for r in document.responses if r["id"] != mapped["id"]] + [mapped]

    async def delete_record_response(self, response: Response):
        document = self._index(response.record.dataset_id).documents.get(str(response.record_id))
        if document is not None:
            document.responses = [r for r in document.responses if r["id"] != str(response.id)]

    async def update_record_suggestion(self, suggestion: Suggestion):
        document = self._index(suggestion.record.dataset_id).documents.get(str(suggestion.record_id))
        if document is not None:
            document.suggestions[suggestion.question.name] = _suggestion_document(suggestion)

    async def delete_record_suggestion(self, suggestion: Suggestion):
        document = self._index(suggestion.record.dataset_id).documents.get(str(suggestion.record_id))
        if document is not None:
            document.suggestions.pop(suggestion.question.name, None)

    # -- progress and metrics

    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        if dataset.is_draft:
            return {}
        statuses = Counter(document.status for document in self._index(dataset.id).documents.values())
        return {"total": sum(statuses.values()), **statuses}

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        if dataset.is_draft:
            return {}
        statuses = Counter(
            response["status"]
            for document in self._index(dataset.id).documents.values()
            for response in document.responses
            if response["user_id"] == str(user.id)
        )
        return {"total": sum(statuses.values()), **statuses}

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> MetadataMetrics:
        documents = self._index(metadata_property.dataset_id).documents.values()
        values = [d.metadata[metadata_property.name] for d in documents if metadata_property.name in d.metadata]
        if metadata_property.type == MetadataPropertyType.terms:
            counts = Counter(str(item) for value in values for item in (value if isinstance(value, list) else [value]))
            ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
            return TermsMetrics(
                total=sum(counts.values()),
                values=[TermsMetrics.TermCount(term=term, count=count) for term, count in ordered],
            )
        numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if metadata_property.type == MetadataPropertyType.integer:
            return IntegerMetadataMetrics(
                min=int(min(numbers)) if numbers else None, max=int(max(numbers)) if numbers else None
            )
        return FloatMetadataMetrics(min=min(numbers, default=None), max=max(numbers, default=None))

    # -- search

    def _scored(
        self, dataset: Dataset, query: TextQuery | str | None, filter: Filter | None
    ) -> list[tuple[Document, float]]:
        documents = [d for d in self._index(dataset.id).documents.values() if _matches(d, filter)]
        if query is None:
            return [(document, 1.0) for document in documents]
        if isinstance(query, str):
            query = TextQuery(q=query)
        scores = _text_scores(documents, _query_fields(dataset, query), query.q)
        return [(document, scores[document.id]) for document in documents if document.id in scores]

    async def search(
        self,
        dataset: Dataset,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        sort: list[Order] | None = None,
        offset: int = 0,
        limit: int = 100,
        user_id: str | None = None,
    ) -> SearchResponses:
        scored = self._scored(dataset, query, filter)
        if user_id:
            scored = [(document, score * _user_shuffle(user_id, document.id)) for document, score in scored]
        # Elasticsearch orders by score, ties in index order; an explicit sort replaces the score order
        scored.sort(key=lambda item: -item[1])
        if sort:
            ranked = _sort_documents([document for document, _ in scored], sort)
            score_of = {document.id: score for document, score in scored}
            scored = [(document, score_of[document.id]) for document in ranked]
        page = scored[offset : offset + limit]
        return SearchResponses(
            items=[SearchResponseItem(record_id=UUID(document.id), score=score) for document, score in page],
            total=len(scored),
        )

    async def similarity_search(
        self,
        dataset: Dataset,
        vector_settings: VectorSettings,
        value: list[float] | None = None,
        record: Record | None = None,
        query: TextQuery | str | None = None,
        filter: Filter | None = None,
        max_results: int = 100,
        order: SimilarityOrder = SimilarityOrder.most_similar,
        threshold: float | None = None,
    ) -> SearchResponses:
        if bool(value) == bool(record):
            raise ValueError("Must provide either vector value or record to compute the similarity search")
        excluded_id = None
        if not value:
            excluded_id = str(record.id)
            value = record.vector_value_by_vector_settings(vector_settings)
        if not value:
            raise ValueError("Cannot find a vector value to apply with provided info")
        target = _unit(value)
        if order == SimilarityOrder.least_similar:
            target = -target
        settings_id = str(vector_settings.id)
        candidates = [
            (document, score)
            for document, score in self._scored(dataset, query, filter)
            if settings_id in document.vectors and document.id != excluded_id
        ]
        # Elasticsearch's cosine similarity score: (1 + cosine) / 2
        hits = sorted(
            ((document, (1.0 + float(document.vectors[settings_id] @ target)) / 2.0) for document, _ in candidates),
            key=lambda item: -item[1],
        )[:max_results]
        items = [
            SearchResponseItem(record_id=UUID(document.id), score=score)
            for document, score in hits
            if threshold is None or score >= threshold
        ]
        return SearchResponses(items=items, total=len(hits))


async def reindex_all() -> None:
    """Rebuild every dataset's index from the database, once per process (the first engine instance does it)."""
    global _loaded, _load_lock
    if _loaded:
        return
    if _load_lock is None:
        _load_lock = asyncio.Lock()
    async with _load_lock:
        if _loaded:
            return
        from argilla_server.cli.search_engine.reindex import Reindexer
        from argilla_server.database import AsyncSessionLocal

        engine = InProcessSearchEngine()
        datasets = records = 0
        async with AsyncSessionLocal() as db:
            async for dataset in Reindexer.reindex_datasets(db, engine):
                datasets += 1
                async for batch in Reindexer.reindex_dataset_records(db, engine, dataset):
                    records += len(batch)
        _loaded = True
        _LOGGER.info("in-process search index rebuilt from the database: %d datasets, %d records", datasets, records)
