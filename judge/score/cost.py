"""Tokens and dollars: what a judged request cost, what a run will cost, and the guard that keeps it under a cap.

Actual costs come from the usage the API returns (input, output, prompt-cache writes and reads) and the price
table in the config. Estimates come before any request, from the texts themselves: tokens are counted as UTF-8
bytes / 3, which overcounts English (about 4 characters a token) and stays near the truth for emoji and CJK, so
the estimate errs on the high side.

The guard does not reserve the estimate: it reserves a bound that holds whatever the provider's tokenizer does. A
byte-level BPE token (Claude's, GPT's, Qwen's) covers at least one UTF-8 byte, so a request's input is at most its
bytes as sent (system prefix, message, output schema) plus what the provider wraps around them
(REQUEST_OVERHEAD_TOKENS), and its output at most max_tokens. A cap, a price or a cost that is not a finite number
is refused: NaN compares false with everything, so it would turn the guard off.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from judge.config import PriceTable, check_finite_amount

BYTES_PER_TOKEN = 3.0
# What a provider adds to a request's own bytes (role markers, the structured-output instructions it injects):
# part of the worst case the guard reserves.
REQUEST_OVERHEAD_TOKENS = 1024
# What a verdict of three sentences of reasoning plus the answer takes, for the estimate (the guard assumes the
# worst: max_tokens).
EXPECTED_OUTPUT_TOKENS = 120


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def max_input_tokens(*texts: str) -> int:
    """A bound on the input tokens of a request made of `texts` that holds for any byte-level tokenizer: one token
    per UTF-8 byte, plus the provider's overhead."""
    return sum(len(text.encode("utf-8")) for text in texts) + REQUEST_OVERHEAD_TOKENS


@dataclass
class TokenUsage:
    input_tokens: int = 0  # input billed at the plain input price (not read from or written to the prompt cache)
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
        )


def usage_cost(usage: TokenUsage, prices: PriceTable, price_factor: float = 1.0) -> float:
    """US dollars; `price_factor` is the batch discount (0.5 for Message Batches), applied to every token kind."""
    dollars = (
        usage.input_tokens * prices.input
        + usage.output_tokens * prices.output
        + usage.cache_write_tokens * prices.cache_write
        + usage.cache_read_tokens * prices.cache_read
    ) / 1e6
    return dollars * price_factor


@dataclass
class RequestSize:
    prefix_key: str  # requests with the same cached prefix share one cache entry at the provider
    prefix_tokens: int  # estimates (bytes / 3)
    message_tokens: int
    max_input_tokens: int | None = None  # the bound the guard reserves (max_input_tokens); None: the estimates


@dataclass
class CostEstimate:
    requests: int
    expected_usd: float
    worst_case_usd: float
    prefix_cached: bool

    def describe(self) -> str:
        if not self.requests:
            return "nothing to send: $0"
        caching = "system prefix read from the prompt cache" if self.prefix_cached else "no prompt caching"
        return (
            f"{self.requests} requests: about ${self.expected_usd:.4f} ({caching}; at most "
            f"${self.worst_case_usd:.4f} if every verdict used max_tokens)"
        )


def worst_case_cost(size: RequestSize, prices: PriceTable, max_tokens: int, price_factor: float) -> float:
    """The most one request can cost: its bound on input tokens at the dearer of the input and cache-write prices,
    and max_tokens of output."""
    input_price = max(prices.input, prices.cache_write)
    tokens = size.max_input_tokens if size.max_input_tokens is not None else size.prefix_tokens + size.message_tokens
    return (tokens * input_price + max_tokens * prices.output) / 1e6 * price_factor


def estimate_cost(
    sizes: list[RequestSize], prices: PriceTable, max_tokens: int, price_factor: float, caching: bool
) -> CostEstimate:
    """Expected cost: the first request of each prefix writes the prompt cache, the others read it (when caching is
    on and the prefix reaches the model's minimum cacheable length); EXPECTED_OUTPUT_TOKENS out per request."""
    expected, worst, written = 0.0, 0.0, set()
    cached_any = False
    output_tokens = min(max_tokens, EXPECTED_OUTPUT_TOKENS)
    for size in sizes:
        usage = TokenUsage(input_tokens=size.message_tokens, output_tokens=output_tokens)
        if caching and size.prefix_tokens >= prices.min_cacheable_tokens:
            cached_any = True
            if size.prefix_key in written:
                usage.cache_read_tokens = size.prefix_tokens
            else:
                usage.cache_write_tokens = size.prefix_tokens
                written.add(size.prefix_key)
        else:
            usage.input_tokens += size.prefix_tokens
        expected += usage_cost(usage, prices, price_factor)
        worst += worst_case_cost(size, prices, max_tokens, price_factor)
    return CostEstimate(len(sizes), expected, worst, cached_any)


class CostGuard:
    """Never lets reserved + spent go past `max_usd`: each request reserves its worst case before it is sent, and
    gives the reservation back for its actual cost when it returns. A request that cost more than it reserved means
    the bound did not hold (a provider counting in a way no byte-level tokenizer does): nothing more is reserved."""

    def __init__(self, max_usd: float):
        self.max_usd = check_finite_amount(max_usd, "the cost cap")
        self.spent_usd = 0.0
        self.reserved_usd = 0.0
        self.bound_broken: str | None = None  # why no more is reserved, once a request cost more than its reservation
        self._lock = threading.Lock()

    def try_reserve(self, amount: float) -> bool:
        with self._lock:
            if self.bound_broken is not None or not math.isfinite(amount) or amount < 0:
                return False
            if self.spent_usd + self.reserved_usd + amount > self.max_usd:
                return False
            self.reserved_usd += amount
            return True

    def settle(self, reserved: float, actual: float) -> None:
        with self._lock:
            self.reserved_usd -= reserved
            if not math.isfinite(actual):
                self.bound_broken = f"a request's cost was not a finite number ({actual!r})"
                actual = 0.0
            elif reserved > 0 and actual > reserved * (1 + 1e-9):
                self.bound_broken = (
                    f"a request cost ${actual:.6f}, more than the ${reserved:.6f} reserved for its worst case"
                )
            self.spent_usd += actual
