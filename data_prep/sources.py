"""Read tweet exports (JSON, JSONL, folders of JSON files) and normalize every record into `Tweet`.

Formats are detected per record, because one folder (or one collection run) can mix them:

- `apify_tweet_scraper`: apidojo/tweet-scraper (Tweet Scraper V2), camelCase (`likeCount`, `createdAt`,
  `author.followers`, `inReplyToId`, `conversationId`, `isRetweet`/`isQuote`, `extendedEntities`, ...).
- `apify_kaitoeasyapi`: the kaitoeasyapi scraper; the same family of fields, many of them missing or None.
- `apify_twitter_scraper_legacy`: the legacy Apify "Twitter Scraper", snake_case (`full_text`, `favorite_count`,
  `conversation_id`, `replying_to_tweet` as a URL, `user_id`/`username`, no author object and no follower count).
- `x_api_v1`: X (Twitter) API v1.1 status JSON (`favorite_count`, `in_reply_to_status_id_str`,
  `user.followers_count`, `retweeted_status`, `quoted_status`, `entities`/`extended_entities`), including the
  flattened variant with top-level `urls`/`hashtags` found in RumourEval's 2017 threads.

A file holds a JSON array of records, JSON lines, or one object. An object that is not itself a record but wraps a
list of them, as API responses do (`{"items": [...]}`, `{"data": [...]}`, `{"data": {"items": [...]}}`, see
`WRAPPER_KEYS`), gives the records of that list; one that holds tweet records under any other key is refused by name
(`InputError`), never read as one record. An empty (0-byte or blank) file holds no record, in any format.

Every input record gives exactly one output item, in input order: a `Tweet`, or a `Rejected` with a short
snake_case reason when a required field (id, text, created_at) cannot be read. Nothing is guessed and
nothing raises for a bad record; only a missing or malformed input *file* raises `InputError`, and
`list_input_files` raises it before any record is processed.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from replytune.errors import InputError
from replytune.schema import Tweet

try:
    from orjson import loads as _orjson_loads
except ImportError:  # optional: the stdlib parser gives the same records, slower
    _orjson_loads = None

UTC = timezone.utc  # datetime.UTC needs Python 3.11; the package supports 3.10

# Keys the collector (data_prep/collect.py) adds to every raw item it writes.
QUERY_KEY = "_replytune_query"
RUN_ID_KEY = "_replytune_run_id"

JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".json.gz", ".jsonl.gz", ".ndjson.gz")
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")

# Files found while expanding a folder that hold annotations or run bookkeeping, not tweets.
# RumourEval: structure.json (reply tree), subtaskA/B.json (stance/veracity labels), README.
# data_prep collect: its checkpoint and manifest beside tweets.jsonl.
ANNOTATION_FILE_NAMES = frozenset(
    {"structure.json", "subtaska.json", "subtaskb.json", "collect_checkpoint.json", "collect_manifest.json"}
)


# Keys under which API responses wrap their list of records, tried in this order.
WRAPPER_KEYS = ("items", "data", "tweets", "statuses", "results", "records")


@dataclass(slots=True)
class Rejected:
    """A record that could not be normalized, with a short snake_case reason for the funnel."""

    reason: str
    record_id: str | None
    source_file: str


@dataclass
class InputScan:
    """The files to read, in order, and the files skipped while expanding folders (with why)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------


def list_input_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand folders (recursively) into the JSON/JSONL files to read; check every one before any work.

    Raises InputError naming the path (and the line, for JSONL) for a missing path, a folder without a JSON file,
    an unsupported file named explicitly, or a file that is not valid JSON.
    """
    return scan_input_files(paths).files


def scan_input_files(paths: Iterable[str | Path]) -> InputScan:
    """Like `list_input_files`, and also says which files inside folders were skipped and why."""
    scan = InputScan()
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no input path given")
    for path in paths:
        if path.is_dir():
            files_before = len(scan.files)
            for candidate in sorted(p for p in path.rglob("*") if p.is_file()):
                skip_reason = _reason_to_skip(candidate)
                if skip_reason:
                    scan.skipped.append((candidate, skip_reason))
                else:
                    scan.files.append(candidate)
            if len(scan.files) == files_before:  # most likely the wrong folder: an empty build would hide that
                raise InputError(f"{path}: no JSON or JSONL file in this folder (expected {', '.join(JSON_SUFFIXES)})")
        elif path.is_file():
            if not _looks_like_json_file(path):
                raise InputError(f"{path}: not a JSON or JSONL file (expected one of {', '.join(JSON_SUFFIXES)})")
            scan.files.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    for path in scan.files:
        _check_file(path)
    empty = [path for path in scan.files if _is_empty(path)]
    if empty and len(empty) == len(scan.files):
        raise InputError(f"every input file is empty: {', '.join(map(str, empty))}")
    scan.files = [path for path in scan.files if path not in empty]
    scan.skipped += [(path, "empty_file") for path in empty]
    return scan


def _is_empty(path: Path) -> bool:
    """A 0-byte or blank file: no record, whether named .json or .jsonl."""
    return not _read_bytes(path).strip()


def _reason_to_skip(path: Path) -> str | None:
    name = path.name
    if name.startswith("."):
        return "hidden_file"
    if name.lower() in ANNOTATION_FILE_NAMES:
        return "annotation_file"
    if not _looks_like_json_file(path):
        return "not_json"
    return None


def _looks_like_json_file(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith(JSON_SUFFIXES):
        return True
    if "." in name:
        return False
    # No extension (some exports name files by tweet id): JSON if it starts like JSON.
    try:
        with open(path, "rb") as file:
            head = file.read(64).lstrip()
    except OSError:
        return False
    return head[:1] in (b"{", b"[")


def _is_json_lines(path: Path) -> bool:
    return path.name.lower().endswith(JSON_LINES_SUFFIXES)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as file:
                data = file.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as error:
        raise InputError(f"{path}: cannot be read: {error}") from error
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data  # a UTF-8 byte-order mark is not JSON


def _loads(data: bytes) -> Any:
    """Parse JSON with orjson where it is installed (about 2x faster on Apify items), else the stdlib.

    orjson is stricter than the stdlib (NaN, integers beyond 64 bits, lone surrogates): whatever it refuses
    goes to `json.loads`, so both accept exactly the same inputs, and errors carry the stdlib's line/column.
    """
    if _orjson_loads is not None:
        try:
            return _orjson_loads(data)
        except ValueError:
            pass
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise json.JSONDecodeError(f"not valid UTF-8 ({error.reason})", "", 0) from error


def _check_file(path: Path) -> None:
    """Parse the file once, so that a malformed one stops the run before any work."""
    for _ in _iter_raw_records(path):
        pass


def _iter_raw_records(path: Path) -> Iterator[Any]:
    """Yield every record of a file: array items, JSONL lines, or the one object of a single-object file."""
    data = _read_bytes(path)
    if not data.strip():
        return  # an empty file holds no record, whatever its name says
    if _is_json_lines(path):
        yield from _iter_json_lines(path, data)
        return
    try:
        parsed = _loads(data)
    except json.JSONDecodeError as error:
        # Some exports write JSON lines into a .json file; accept that, but only if every line parses.
        if error.msg == "Extra data" and data.lstrip().startswith(b"{"):
            yield from _iter_json_lines(path, data)
            return
        raise InputError(f"{path}:{error.lineno}: invalid JSON: {error.msg} (column {error.colno})") from error
    if isinstance(parsed, list):
        yield from parsed
    elif isinstance(parsed, dict):
        yield from _records_of(parsed, str(path))
    else:
        raise InputError(f"{path}: the top level must be a JSON object or array, got {type(parsed).__name__}")


def _records_of(value: Any, where: str, depth: int = 0) -> Iterator[Any]:
    """The records of one top-level object: itself when it is a record, else the list it wraps (see WRAPPER_KEYS).

    Raises InputError for an object that holds tweet records under a key not in WRAPPER_KEYS: reading it as one
    record would silently lose them all.
    """
    if not isinstance(value, dict) or value.get("noResults") or detect_format(value) is not None:
        yield value
        return
    for key in WRAPPER_KEYS:
        inner = value.get(key)
        if isinstance(inner, list):
            yield from inner
            return
        if isinstance(inner, dict) and depth < 2:
            yield from _records_of(inner, where, depth + 1)
            return
    for key, inner in value.items():
        if isinstance(inner, list) and any(isinstance(item, dict) and detect_format(item) for item in inner):
            raise InputError(
                f"{where}: an object holding tweet records under {key!r}, which is not a wrapper data_prep reads "
                f"({', '.join(WRAPPER_KEYS)}): export the list itself, or the records as JSON lines"
            )
    yield value


def _iter_json_lines(path: Path, data: bytes) -> Iterator[Any]:
    # bytes.splitlines splits on \n and \r only; str.splitlines would also split inside tweet texts that hold
    # a raw U+2028 (valid in a JSON string).
    for line_number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue  # blank lines are not records
        try:
            parsed = _loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{line_number}: invalid JSON line: {error.msg} (column {error.colno})") from error
        yield from _records_of(parsed, f"{path}:{line_number}")


def iter_tweets(files: Iterable[str | Path]) -> Iterator[Tweet | Rejected]:
    """Yield exactly one `Tweet` or `Rejected` per input record, file by file, in order."""
    for path in files:
        path = Path(path)
        source_file = str(path)
        for raw in _iter_raw_records(path):
            yield normalize_record(raw, source_file)


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------

# Keys only the kaitoeasyapi scraper writes; everything else it shares with apidojo/tweet-scraper.
KAITO_ONLY_KEYS = ("searchTermIndex", "quoted_tweet_results", "reply_to_user_results", "retweeted_tweet")


def detect_format(raw: dict) -> str | None:
    """Name the export format of one record, or None when it is none of the known ones."""
    if "createdAt" in raw or "likeCount" in raw or "fullText" in raw:
        for key in KAITO_ONLY_KEYS:
            if key in raw:
                return "apify_kaitoeasyapi"
        return "apify_tweet_scraper"
    user = raw.get("user")
    if isinstance(user, dict) and ("id_str" in raw or "created_at" in raw):
        return "x_api_v1"
    if ("full_text" in raw or "favorite_count" in raw) and ("user_id" in raw or "username" in raw):
        return "apify_twitter_scraper_legacy"
    return None


def normalize_record(raw: dict, source_file: str) -> Tweet | Rejected:
    """Map one raw record of any known format into a `Tweet`, or reject it with a reason."""
    if not isinstance(raw, dict):
        return Rejected("not_an_object", None, source_file)
    if raw.get("noResults"):
        return Rejected("placeholder", None, source_file)
    source_format = detect_format(raw)
    if source_format is None:
        return Rejected("unknown_format", read_id(raw.get("id_str") or raw.get("id")), source_file)
    if source_format == "x_api_v1":
        return _normalize_x_api_v1(raw, source_file)
    if source_format == "apify_twitter_scraper_legacy":
        return _normalize_legacy_scraper(raw, source_file, source_format)
    return _normalize_tweet_scraper(raw, source_file, source_format)


def _required_fields(
    raw_id: Any, raw_text: Any, raw_dates: tuple, source_file: str
) -> tuple[str, str, datetime] | Rejected:
    """Read the three fields no record can do without, or say which one is missing or unreadable.

    `raw_dates` holds the values of every date field of the format, in its order of preference: the first readable
    one is taken, and the record is `unreadable_created_at` only when none is.
    """
    if raw_id is None or raw_id == "":
        return Rejected("missing_id", None, source_file)
    tweet_id = read_id(raw_id)
    if tweet_id is None:
        return Rejected("unreadable_id", None, source_file)
    if raw_text is None:
        return Rejected("missing_text", tweet_id, source_file)
    if not isinstance(raw_text, str):
        return Rejected("unreadable_text", tweet_id, source_file)
    present = [value for value in raw_dates if value is not None and value != ""]
    if not present:
        return Rejected("missing_created_at", tweet_id, source_file)
    created_at = next(filter(None, map(parse_datetime, present)), None)
    if created_at is None:
        return Rejected("unreadable_created_at", tweet_id, source_file)
    return tweet_id, _encodable_text(raw_text), created_at


def _encodable_text(text: str) -> str:
    """The text, with each lone UTF-16 surrogate (half an emoji, cut off by an export that truncates) made U+FFFD.

    JSON can carry one ("\\ud83d"), but nothing downstream can encode it: the language detector and the parquet
    writer would stop the whole build on it. U+FFFD is what any UTF-8 decoder makes of a broken sequence.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _normalize_tweet_scraper(raw: dict, source_file: str, source_format: str) -> Tweet | Rejected:
    """apidojo/tweet-scraper and kaitoeasyapi (same camelCase family)."""
    get = raw.get
    required = _required_fields(
        get("id"), get("fullText") or get("text"), _dates(raw, "createdAt", "created_at", "timestamp"), source_file
    )
    if isinstance(required, Rejected):
        return required
    tweet_id, text, created_at = required
    unreadable: list[str] = []
    author = get("author")
    if not isinstance(author, dict):
        author = {}
    entities = get("entities")
    if not isinstance(entities, dict):
        entities = {}
    extended_entities = get("extendedEntities")
    has_media = bool(
        get("media")
        or (isinstance(extended_entities, dict) and extended_entities.get("media"))
        or entities.get("media")
    )
    retweet = bool(get("isRetweet") or get("retweeted_tweet") or get("retweet")) or _looks_like_retweet(raw, text)
    verified = author.get("isBlueVerified")
    if verified is None:
        verified = author.get("isVerified")
    else:
        verified = bool(verified or author.get("isVerified"))
    tweet = Tweet(
        tweet_id=tweet_id,
        text=text,
        created_at=created_at,
        author_id=read_id(author.get("id")),
        author_handle=_optional_str(author.get("userName")),
        author_name=_optional_str(author.get("name")),
        author_followers=_count(author.get("followers"), "author_followers", unreadable),
        author_verified=_optional_bool(verified),
        likes=_count(get("likeCount"), "likes", unreadable),
        retweets=_count(get("retweetCount"), "retweets", unreadable),
        reply_count=_count(get("replyCount"), "reply_count", unreadable),
        quotes=_count(get("quoteCount"), "quotes", unreadable),
        views=_count(get("viewCount"), "views", unreadable),
        conversation_id=read_id(get("conversationId")),
        in_reply_to_id=read_id(get("inReplyToId")),
        in_reply_to_author_id=read_id(get("inReplyToUserId")),
        lang=_optional_str(get("lang")),
        is_retweet=retweet,
        is_quote=bool(get("isQuote") or get("quote") or get("quoted_tweet") or get("quoteId")),
        has_media=has_media,
        urls=_entity_urls(entities.get("urls")),
        source_format=source_format,
        source_file=source_file,
        query=_optional_str(get(QUERY_KEY)),
        url=_optional_str(get("url")),
    )
    _add_extras(tweet, raw, unreadable)
    return tweet


def _normalize_legacy_scraper(raw: dict, source_file: str, source_format: str) -> Tweet | Rejected:
    """The legacy Apify "Twitter Scraper": snake_case, no author object, replies marked by a URL."""
    get = raw.get
    required = _required_fields(
        get("id"),
        _first_present(raw, "full_text", "text"),
        _dates(raw, "created_at", "createdAt", "timestamp"),
        source_file,
    )
    if isinstance(required, Rejected):
        return required
    tweet_id, text, created_at = required
    unreadable: list[str] = []
    replying_to_url = get("replying_to_tweet")
    in_reply_to_id = _status_id_from_url(replying_to_url) if replying_to_url else None
    tweet = Tweet(
        tweet_id=tweet_id,
        text=text,
        created_at=created_at,
        author_id=read_id(get("user_id")),
        author_handle=_optional_str(get("username")),
        author_followers=None,  # this actor never exported follower counts
        likes=_count(get("favorite_count"), "likes", unreadable),
        retweets=_count(get("retweet_count"), "retweets", unreadable),
        reply_count=_count(get("reply_count"), "reply_count", unreadable),
        quotes=_count(get("quote_count"), "quotes", unreadable),
        views=_count(get("view_count"), "views", unreadable),
        conversation_id=read_id(get("conversation_id")),
        in_reply_to_id=in_reply_to_id,
        lang=_optional_str(get("lang")),
        is_retweet=bool(get("is_retweet")) or _looks_like_retweet(raw, text),
        is_quote=bool(get("is_quote_tweet") or get("quoted_tweet")),
        has_media=bool(get("media")),
        urls=_entity_urls(get("urls")),
        source_format=source_format,
        source_file=source_file,
        query=_optional_str(get(QUERY_KEY)),
        url=_optional_str(get("url")),
    )
    if replying_to_url and in_reply_to_id is None:
        unreadable.append("in_reply_to_id")
        tweet.extra["replying_to_tweet"] = replying_to_url
    _add_extras(tweet, raw, unreadable)
    return tweet


def _normalize_x_api_v1(raw: dict, source_file: str) -> Tweet | Rejected:
    """X API v1.1 statuses (classic, extended and the flattened RumourEval variant)."""
    get = raw.get
    extended_tweet = get("extended_tweet")
    text = get("full_text")
    if text is None and isinstance(extended_tweet, dict):
        text = extended_tweet.get("full_text")
    if text is None:
        text = get("text")
    raw_id = get("id_str")
    if raw_id is None or raw_id == "":
        raw_id = get("id")
    required = _required_fields(
        raw_id, text, _dates(raw, "created_at", "createdAt", "timestamp", "timestamp_ms"), source_file
    )
    if isinstance(required, Rejected):
        return required
    tweet_id, text, created_at = required
    unreadable: list[str] = []
    user = get("user")
    entities = get("entities")
    if not isinstance(entities, dict):
        entities = {}
    extended_entities = get("extended_entities")
    has_media = bool(
        (isinstance(extended_entities, dict) and extended_entities.get("media"))
        or entities.get("media")
        or get("media")
    )
    url_entities = entities.get("urls") if "urls" in entities else get("urls")
    screen_name = _optional_str(user.get("screen_name"))
    in_reply_to_id = _first_present(raw, "in_reply_to_status_id_str", "in_reply_to_status_id")
    tweet = Tweet(
        tweet_id=tweet_id,
        text=text,
        created_at=created_at,
        author_id=read_id(_first_present(user, "id_str", "id")),
        author_handle=screen_name,
        author_name=_optional_str(user.get("name")),
        author_followers=_count(user.get("followers_count"), "author_followers", unreadable),
        author_verified=_optional_bool(user.get("verified")),
        likes=_count(get("favorite_count"), "likes", unreadable),
        retweets=_count(get("retweet_count"), "retweets", unreadable),
        reply_count=_count(get("reply_count"), "reply_count", unreadable),
        quotes=_count(get("quote_count"), "quotes", unreadable),
        conversation_id=read_id(get("conversation_id_str") or get("conversation_id")),
        in_reply_to_id=read_id(in_reply_to_id),
        in_reply_to_author_id=read_id(_first_present(raw, "in_reply_to_user_id_str", "in_reply_to_user_id")),
        lang=_optional_str(get("lang")),
        is_retweet=bool(get("retweeted_status")) or _looks_like_retweet(raw, text),
        is_quote=bool(get("quoted_status") or get("is_quote_status")),
        has_media=has_media,
        urls=_entity_urls(url_entities),
        source_format="x_api_v1",
        source_file=source_file,
        query=_optional_str(get(QUERY_KEY)),
        url=f"https://twitter.com/{screen_name}/status/{tweet_id}" if screen_name else None,
    )
    _add_extras(tweet, raw, unreadable)
    return tweet


def _add_extras(tweet: Tweet, raw: dict, unreadable: list[str]) -> None:
    run_id = raw.get(RUN_ID_KEY)
    if run_id:
        tweet.extra["apify_run_id"] = run_id
    if unreadable:
        # Optional fields that were present but unreadable are None, and listed here so it shows.
        tweet.extra["unreadable_fields"] = unreadable


# --------------------------------------------------------------------------------------------------
# Field readers: small, total functions (they return None instead of raising)
# --------------------------------------------------------------------------------------------------

_STATUS_URL = re.compile(r"/status(?:es)?/(\d+)")


def _status_id_from_url(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    match = _STATUS_URL.search(url)
    return match.group(1) if match else None


def _dates(raw: dict, *keys: str) -> tuple:
    """The values of a format's date fields, in its order of preference (the original spec names createdAt, created_at
    and timestamp; exports differ in which they fill)."""
    return tuple(raw.get(key) for key in keys)


_RETWEET_TEXT = re.compile(r"\s*RT @\w")


def _looks_like_retweet(raw: dict, text: str) -> bool:
    """A retweet that its format's own flag missed: `"type": "retweet"`, or text in the classic "RT @user:" form."""
    return raw.get("type") == "retweet" or _RETWEET_TEXT.match(text) is not None


def _first_present(mapping: dict, *keys: str) -> Any:
    for key in keys:
        value = mapping.get(key)
        if value is not None:
            return value
    return None


def read_id(value: Any) -> str | None:
    """Ids as strings: str (stripped, non-empty) or int, never bool/float (floats lose digits of tweet ids)."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _optional_str(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    return None


def _optional_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _entity_urls(url_entities: Any) -> tuple[str, ...]:
    if not url_entities or not isinstance(url_entities, list):
        return ()
    urls = []
    for entity in url_entities:
        if isinstance(entity, dict):
            url = entity.get("expanded_url") or entity.get("url")
            if isinstance(url, str) and url:
                urls.append(url)
        elif isinstance(entity, str) and entity:
            urls.append(entity)
    return tuple(urls)


_COUNT_SUFFIXES = {"k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
# Published count columns are int64: a larger "count" is not one any source really holds, and would stop the build
# when the dataset is written, after all the work.
MAX_COUNT = 2**63 - 1


def parse_count(value: Any) -> int | None:
    """A count in [0, MAX_COUNT] from an int, an integral float, or a string like "1,234", "1.2K", "3M"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= MAX_COUNT else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and 0 <= value <= MAX_COUNT else None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(",", "").replace("_", "").replace(" ", "").lower()
    if not text:
        return None
    multiplier = _COUNT_SUFFIXES.get(text[-1])
    if multiplier:
        text = text[:-1]
    try:
        number = float(text) * (multiplier or 1) if ("." in text or multiplier) else int(text)
    except ValueError:
        return None
    if not 0 <= number <= MAX_COUNT:  # also refuses NaN and infinity
        return None
    if isinstance(number, float):
        if multiplier:
            return int(round(number))
        if not number.is_integer():
            return None
        return int(number)
    return number


def _count(value: Any, name: str, unreadable: list[str]) -> int | None:
    if value is None:
        return None
    if type(value) is int and 0 <= value <= MAX_COUNT:  # the common case, without a function call
        return value
    count = parse_count(value)
    if count is None:
        unreadable.append(name)
    return count


# --------------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------------

_MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip
_WEEKDAYS = frozenset(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))

# Epoch numbers: seconds up to year ~5138, milliseconds beyond; larger than that is not a date we read.
_EPOCH_MILLISECONDS_FROM = 100_000_000_000
_EPOCH_LIMIT = 100_000_000_000_000


def parse_datetime(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from Twitter's RFC 2822 form, ISO 8601, or epoch seconds/milliseconds.

    A timestamp without a zone (ISO without offset) is read as UTC, the convention of every export we know.
    Returns None when the value cannot be read, never a guess.
    """
    try:
        if isinstance(value, str):
            if len(value) == 30 and value[25] == " " and value[19] == " ":
                parsed = _parse_twitter_date(value)
                if parsed is not None:
                    return parsed
            return _parse_date_string(value.strip())
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return _parse_epoch(value)
    except OverflowError:  # a valid local time whose UTC moment falls outside years 1-9999 ("9999-12-31T23:00-05:00")
        return None
    return None


def _parse_twitter_date(value: str) -> datetime | None:
    """Fast path for `Thu Oct 02 07:11:55 +0000 2025` (fixed width), the form of every Twitter-family export."""
    month = _MONTHS.get(value[4:7])
    if month is None or value[:3] not in _WEEKDAYS or value[13] != ":" or value[16] != ":":
        return None
    try:
        year, day = int(value[26:30]), int(value[8:10])
        hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
    offset = value[20:25]
    if offset == "+0000":
        return moment
    sign = offset[0]
    if sign not in "+-" or not offset[1:].isdigit():
        return None
    minutes = int(offset[1:3]) * 60 + int(offset[3:5])
    # The clock time was local to that offset: subtract it to get UTC.
    return moment - timedelta(minutes=minutes if sign == "+" else -minutes)


_EPOCH_STRING = re.compile(r"\d{9,}(?:\.\d+)?")  # "1759389115", "1759389115123", "1759389115.25"


def _parse_date_string(text: str) -> datetime | None:
    if not text:
        return None
    if _EPOCH_STRING.fullmatch(text):
        return _parse_epoch(float(text) if "." in text else int(text))
    if text[-1] in "Zz":  # Python 3.10's fromisoformat does not read the Z suffix
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        # Other RFC 2822 spellings: "Thu, 02 Oct 2025 07:11:55 +0000", or Twitter's form with odd spacing.
        moment = _parse_email_date(text) or _parse_twitter_date_loose(text)
        if moment is None:
            return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# RFC 2822 as email writes it: "Thu, 02 Oct 2025 07:11:55 +0000". The email parser is lenient (it skips what it
# does not understand, a zone included), so only text of exactly this shape goes to it.
_EMAIL_DATE = re.compile(
    r"(?:[A-Z][a-z]{2}, )?\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}(?::\d{2})? (?:[+-]\d{4}|GMT|UT|UTC)"
)


def _parse_email_date(text: str) -> datetime | None:
    if not _EMAIL_DATE.fullmatch(text):
        return None
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def _parse_twitter_date_loose(text: str) -> datetime | None:
    try:
        return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None


def _parse_epoch(number: float) -> datetime | None:
    if number != number or number <= 0 or number >= _EPOCH_LIMIT:
        return None
    seconds = number / 1000 if number >= _EPOCH_MILLISECONDS_FROM else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


__all__ = [
    "InputScan",
    "Rejected",
    "detect_format",
    "iter_tweets",
    "list_input_files",
    "normalize_record",
    "parse_count",
    "parse_datetime",
    "read_id",
    "scan_input_files",
]
