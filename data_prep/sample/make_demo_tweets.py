"""Write data_prep/sample/demo_tweets.jsonl: a synthetic apidojo/tweet-scraper export for `make demo`.

Every text, id and handle is made up here (nothing comes from real exports, which must not be redistributed).
The records look like what the actor returns for technical searches: root tweets with their direct replies,
plus what a real scrape also holds and the build must reject: bots and influencers, first-minute replies,
links, media, one-liners, generic praise, engagement farming, other languages, insults, copies, self-replies,
replies to replies, placeholders, a broken record and repeated ids. With data_prep/configs/demo.yaml about
a hundred pairs come out, most of them in train.

    python data_prep/sample/make_demo_tweets.py [OUTPUT]   # deterministic: the same file every time
    python data_prep/sample/make_demo_tweets.py big.jsonl --records 20000   # the same mix, reworded, at scale
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

OUTPUT = Path(__file__).with_name("demo_tweets.jsonl")
START = datetime(2025, 9, 1, 14, 0, tzinfo=timezone.utc)

# (search term, two root tweets, six substantive replies) per topic.
TOPICS = [
    (
        "PostgreSQL",
        [
            "Postgres tip nobody told me early on: a partial index on the rows you actually query can be 20x smaller "
            "than the full one and just as fast.",
            "We moved our job queue from Redis into Postgres with SKIP LOCKED. One less moving part, and honestly "
            "throughput is fine at our scale.",
        ],
        [
            "Partial indexes saved us too, but watch out: the planner only uses them when the query repeats the exact "
            "predicate. A parameterized status filter quietly skipped ours for weeks.",
            "Worth pairing that with pg_stat_statements. We found three indexes nobody had used since 2021 and "
            "dropping them cut our write latency noticeably.",
            "The part people miss with SKIP LOCKED queues is vacuum. Millions of dead tuples per hour will bloat the "
            "table unless autovacuum is tuned per table.",
            "We did the same migration last year. Advisory locks for the scheduler plus SKIP LOCKED for workers has "
            "been boring in the best possible way.",
            "How do you handle retries with backoff? We ended up adding a run_after timestamp column and an index "
            "on it, which made the polling query trivial.",
            "One caveat from running this in production: LISTEN/NOTIFY helps latency, but keep polling as a fallback "
            "because notifications are lost whenever a connection drops.",
        ],
    ),
    (
        "Rust async",
        [
            "Hot take: most Rust async pain comes from holding a MutexGuard across an await point, not from the "
            "borrow checker itself.",
            "Spent the weekend porting a small service from threads to tokio. Code got shorter, but debugging "
            "got noticeably harder.",
        ],
        [
            "Clippy has a lint for exactly that now, await_holding_lock. Turning it on in CI caught two deadlocks "
            "in our codebase before they shipped.",
            "Switching to tokio::sync::Mutex hides the problem rather than fixing it. Scoping the guard in a block "
            "before the await is almost always the cleaner answer.",
            "tokio-console changed how I debug this stuff. Seeing which task is parked and why beats sprinkling "
            "println everywhere by a mile.",
            "The hardest bug we hit was a blocking DNS call inside an async handler. spawn_blocking fixed it, but "
            "finding it took two full days.",
            "Did you keep the thread version around for comparison? Our latency percentiles barely moved, yet "
            "memory per connection dropped by roughly ten times.",
            "Structured concurrency with JoinSet made cancellation far less scary for us. Every spawned task has an "
            "owner, and dropping the owner cleans everything up.",
        ],
    ),
    (
        "Kubernetes",
        [
            "Reminder that CPU limits in Kubernetes often make latency worse. Requests yes, limits only when you "
            "truly need hard isolation.",
            "Our cluster bill dropped 35% after we right-sized requests using a month of real usage data instead "
            "of guesses from the original Helm chart.",
        ],
        [
            "CFS throttling graphs convinced our team. p99 latency halved after removing CPU limits on the API "
            "pods, with no noisy neighbour issues so far.",
            "We kept limits on batch workloads only. Mixing latency-sensitive services and batch jobs on the same "
            "nodes without them went badly for us.",
            "Vertical Pod Autoscaler in recommendation mode is great for this. We never let it apply changes, but "
            "its suggestions were surprisingly close to reality.",
            "Did memory requests change too? Ours were wildly inflated because someone copied JVM heap sizes from "
            "an old VM setup years ago.",
            "Goldilocks gave us the same insight with less effort. The dashboard alone started useful "
            "conversations with every service team.",
            "The bigger win for us was bin packing. Once requests were realistic, the autoscaler could finally "
            "consolidate nodes overnight and shut the spares down.",
        ],
    ),
    (
        "fine-tuning LLM",
        [
            "Fine-tuning lesson learned the hard way: 2,000 carefully filtered examples beat 50,000 scraped ones "
            "for our support assistant.",
            "LoRA rank matters less than people think. We saw almost no difference between rank 8 and 64 on our "
            "classification-style tasks.",
        ],
        [
            "Same experience here. Deduplicating near-identical examples mattered more than anything else; the "
            "model stopped parroting our most common template answer.",
            "How did you filter? We used a small judge model to score helpfulness and dropped the bottom third, "
            "which worked better than heuristics alone.",
            "Rank mattered for us only on generation tasks with a lot of new vocabulary. For anything resembling "
            "classification, rank 8 and a higher learning rate was plenty.",
            "Did you also compare targeting all linear layers versus attention only? That choice moved our eval "
            "scores more than the rank ever did.",
            "Held-out evaluation is where most teams cut corners. We split by customer account so near-duplicate "
            "tickets could not leak between train and test.",
            "Our biggest jump came from fixing the chat template. Training and inference used slightly different "
            "formats and the model learned to stop early.",
        ],
    ),
    (
        "RAG retrieval",
        [
            "Most RAG failures I debug are retrieval failures, not generation failures. Log what you retrieved "
            "before blaming the model.",
            "Hybrid search (BM25 + embeddings) fixed more of our RAG problems than any prompt engineering did.",
        ],
        [
            "Completely agree. We added a retrieval recall metric to CI using fifty labelled questions and it "
            "catches regressions every time someone changes the chunker.",
            "Chunking by document structure instead of fixed token windows was our biggest win. Headings carry a "
            "lot of meaning the embeddings otherwise lose.",
            "Reranking with a cross-encoder on the top fifty candidates gave us a bigger jump than switching "
            "embedding models twice.",
            "BM25 is underrated for product names and error codes. Embeddings kept matching semantically similar "
            "but completely wrong error messages.",
            "How do you weight the two scores? We tried reciprocal rank fusion and it beat every hand-tuned linear "
            "combination we attempted.",
            "Query rewriting helped us more than expected. Users type fragments, and expanding them into a full "
            "question before retrieval improved recall a lot.",
        ],
    ),
    (
        "vector database",
        [
            "Unpopular opinion: for under ten million vectors you probably do not need a dedicated vector database. "
            "pgvector is fine.",
            "HNSW index build time surprised us. Two hours for 40M vectors, and memory usage was triple our estimate.",
        ],
        [
            "We run pgvector with around six million rows and the HNSW index keeps queries under twenty "
            "milliseconds. Backups and joins being normal SQL is a huge bonus.",
            "The moment you need filtering plus similarity, Postgres shines. Our previous setup did post-filtering "
            "and returned empty pages for selective filters.",
            "Quantizing to int8 cut our memory footprint by four with barely any recall loss on our benchmark set. "
            "Worth trying before buying more RAM.",
            "Did you tune ef_construction? Lowering it from the default roughly halved our build time and recall "
            "only dropped by about a point.",
            "We hit the same memory wall. Building the index on a separate large machine and shipping the files "
            "over turned out to be the pragmatic fix.",
            "Measure recall against exact search on a sample before trusting any of these numbers. Our first "
            "configuration silently returned mediocre neighbours.",
        ],
    ),
    (
        "PyTorch",
        [
            "torch.compile gave us a 1.6x training speedup for free on one model and a 20 minute compile with no "
            "gain on another. Always measure.",
            "Mixed precision tip: if your loss suddenly goes NaN after switching to fp16, try bf16 before touching "
            "anything else.",
        ],
        [
            "Graph breaks were our problem. TORCH_LOGS with graph_breaks enabled showed a data dependent branch in "
            "the loss function that killed every optimization.",
            "Dynamic shapes are the usual culprit. Padding sequences to a few fixed bucket lengths made compilation "
            "stable and the speedup finally appeared.",
            "bf16 saved a whole week of debugging for us. The wider exponent range means no loss scaling, and the "
            "accuracy difference was within noise.",
            "Before blaming fp16, check for a log of zero or a division by a tiny variance. Ours was layer norm "
            "with a very small epsilon.",
            "Did the compiled model also help inference? Ours sped up training but inference latency got worse "
            "until we switched to a different compile mode.",
            "Profiling with the PyTorch profiler first would have saved us time. The dataloader was the bottleneck "
            "and compiling the model changed nothing.",
        ],
    ),
    (
        "Python packaging",
        [
            "Python packaging in 2025 is honestly pleasant: pyproject.toml, a lock file, and uv for everything else.",
            "Pinning exact versions in a library's dependencies is a mistake. Pin in applications, use ranges in "
            "libraries.",
        ],
        [
            "uv made our CI install step drop from ninety seconds to about eight. The cache works across branches "
            "too, which surprised me.",
            "The remaining pain is native extensions. Building wheels for every platform still needs cibuildwheel "
            "and a lot of patience.",
            "Strongly agree on ranges for libraries. We pinned requests once and broke three downstream projects "
            "within a week of the release.",
            "A constraints file in CI that tests both the oldest and newest allowed versions catches most range "
            "problems before users hit them.",
            "Do you commit the lock file for libraries too? We do, purely for reproducible CI, while the published "
            "metadata keeps loose ranges.",
            "Dependency groups in pyproject finally let us drop the separate requirements files for docs and "
            "tests. Small change, much tidier repository.",
        ],
    ),
    (
        "TypeScript",
        [
            "TypeScript strict mode on a five year old codebase: 4,000 errors on day one, zero runtime type bugs "
            "reported since we finished.",
            "Zod at the API boundary plus inferred types everywhere else is the best TypeScript setup I have used.",
        ],
        [
            "We did it folder by folder with a separate tsconfig per directory. Trying to fix everything at once "
            "stalled twice before that approach worked.",
            "noUncheckedIndexedAccess was the flag that found real bugs for us. Strict alone missed plenty of "
            "undefined array lookups.",
            "Zod parsing at the boundary also gave us much better error messages for API clients, which our "
            "support team noticed immediately.",
            "Watch the bundle size with schema libraries on the frontend. We moved validation to the server only "
            "and saved a noticeable amount.",
            "How long did the migration take in total? We budgeted a month and needed a full quarter, mostly "
            "because of test fixtures.",
            "Generating the schemas from our OpenAPI spec removed a whole class of drift between backend and "
            "frontend types.",
        ],
    ),
    (
        "Docker builds",
        [
            "Our Docker images went from 1.2GB to 140MB with multi-stage builds and a distroless base. Deploys got "
            "noticeably faster.",
            "If your Docker build reinstalls dependencies on every code change, your COPY order is wrong.",
        ],
        [
            "Distroless is great until you need to debug in production. We keep a debug variant with a shell that "
            "is never deployed by default.",
            "BuildKit cache mounts for the package manager cache gave us another big speedup on top of the layer "
            "ordering fix.",
            "Copying the lock file first and installing before copying source is the single most useful Dockerfile "
            "change I know.",
            "Smaller images also cut our vulnerability scanner noise dramatically. Fewer packages means fewer CVEs "
            "to triage every week.",
            "Did you check cold start times? Ours improved more from smaller images than from any application "
            "level optimization.",
            "A dockerignore file was our missing piece. We were sending the entire git history to the build "
            "context every single time.",
        ],
    ),
    (
        "CI flaky tests",
        [
            "We quarantined flaky tests automatically: fail twice in a week on main and the test moves to a "
            "nightly job with an owner assigned.",
            "Half our flaky tests were caused by tests depending on execution order. Random test ordering exposed "
            "all of them within a day.",
        ],
        [
            "Assigning an owner is the key part. Our quarantine list grew forever until each entry came with a "
            "named person and a deadline.",
            "Time dependent tests were our biggest source. Freezing the clock in fixtures removed most failures "
            "around midnight and month boundaries.",
            "pytest-randomly found the same class of bugs for us. Shared module level state was the usual culprit "
            "every time.",
            "Do you track flakiness rate as a metric? Putting it on the team dashboard changed behaviour faster "
            "than any policy document.",
            "Retrying failed tests automatically hides real bugs. We only allow retries for a known list of "
            "network dependent tests.",
            "Network calls in unit tests were our worst offender. A guard that fails any test opening a socket "
            "fixed that category for good.",
        ],
    ),
    (
        "observability",
        [
            "Structured logs with a request id on every line did more for our debugging than any tracing vendor "
            "we evaluated.",
            "High cardinality metrics took down our Prometheus twice this year. User ids do not belong in labels.",
        ],
        [
            "Request ids plus propagating them to downstream services is ninety percent of tracing for a fraction "
            "of the cost and complexity.",
            "We log JSON and query it with a columnar store. Ad hoc questions during incidents finally take seconds "
            "instead of minutes.",
            "Exemplars helped us here: keep metrics low cardinality and attach a trace id sample for the specific "
            "slow requests.",
            "A recording rule review every quarter keeps our series count stable. Dashboards nobody opened got "
            "deleted along with their metrics.",
            "Did you set sample limits per scrape target? That stopped one bad deploy from taking down monitoring "
            "for everyone else.",
            "OpenTelemetry semantic conventions made our logs, metrics and traces line up without custom glue code "
            "in every service.",
        ],
    ),
    (
        "SQLite",
        [
            "SQLite in production is great for single node apps. WAL mode, a busy timeout, and regular backups "
            "cover most needs.",
            "We replaced a small Postgres instance with SQLite plus Litestream for an internal tool and nobody "
            "noticed except the bill.",
        ],
        [
            "Setting synchronous to NORMAL with WAL gave us a big write speedup and the durability trade off is "
            "acceptable for our workload.",
            "The one gotcha is long running read transactions blocking checkpoints. The WAL file grew to several "
            "gigabytes before we noticed.",
            "Litestream restores are worth testing regularly. Our first restore drill revealed the retention "
            "setting was far too short.",
            "How do you handle schema migrations? We run them at startup inside a transaction, which works nicely "
            "for a single process.",
            "STRICT tables fixed the type coercion surprises we kept hitting when numbers arrived as strings from "
            "form submissions.",
            "For read heavy internal tools, a single SQLite file on fast local disk beats a networked database on "
            "latency every time.",
        ],
    ),
    (
        "Go generics",
        [
            "Two years of Go generics in our codebase: great for collections and helpers, rarely worth it for "
            "business logic.",
            "Go error wrapping with %w and errors.Is made our error handling readable again. Sentinel errors are "
            "back in fashion.",
        ],
        [
            "Same conclusion here. A generic set type and a few slice helpers covered most use cases; the rest "
            "read better with plain interfaces.",
            "The slices and maps packages in the standard library removed most of our homegrown generic helpers "
            "anyway.",
            "Wrapping with context at every layer produces beautiful error chains, but be careful not to leak "
            "internal details to API responses.",
            "errors.As with custom error types is underrated. Our HTTP layer maps domain errors to status codes "
            "in one small function.",
            "Did compile times change noticeably? We saw a small increase after adopting generics heavily in one "
            "shared package.",
            "Type parameters on methods are still missing, which pushed us back to functions in a few places. "
            "Not a big deal in practice.",
        ],
    ),
    (
        "WebAssembly",
        [
            "Running our image processing in WebAssembly in the browser removed an entire backend service and its "
            "upload bandwidth.",
            "WASI components are the first time server side WebAssembly felt practical to me rather than a demo.",
        ],
        [
            "Did you hit memory limits on mobile browsers? Large images crashed Safari for us until we processed "
            "them in tiles.",
            "SIMD support made the difference for us. Without it the WebAssembly build was slower than the old "
            "JavaScript implementation.",
            "Shipping the module with streaming compilation cut our startup time noticeably on slower phones.",
            "The component model finally gives us typed interfaces between modules written in different languages, "
            "which was always the missing piece.",
            "We use it for plugin sandboxing. Each customer script runs with strict memory and time limits and "
            "cannot touch the host filesystem.",
            "Tooling is still rough around debugging. Source maps help, but stepping through optimized builds "
            "remains painful.",
        ],
    ),
    (
        "code review",
        [
            "Our best code review change: PRs over 400 lines need a short design note first. Review quality went "
            "up, cycle time went down.",
            "Code review comments should say whether they block merging. Prefixing nits with nit: removed so much "
            "friction on our team.",
        ],
        [
            "We adopted stacked pull requests for the same reason. Small reviewable steps beat one huge change "
            "that nobody reads carefully.",
            "A short design note also helps future readers. Our PR descriptions became the best documentation "
            "the codebase has.",
            "Conventional comments formalize exactly that. Labels like suggestion, question and issue made "
            "intent clear for new team members.",
            "Automating formatting and lint checks removed most nit comments entirely. Reviewers focus on design "
            "and correctness now.",
            "How do you handle urgent fixes? We allow a post merge review for incidents, with a follow up ticket "
            "created automatically.",
            "Pairing on the first review with new hires taught them our conventions faster than any written "
            "guide we tried.",
        ],
    ),
]

OPENERS = ["", "", "", "Ran into this last month. ", "Can confirm. ", "Good thread. ", "Counterpoint, sort of: "]
FIRST_NAMES = "Ana Ben Chloe Dev Eli Fatima Gus Hana Ivan Jun Kai Lena Mo Nia Omar Pia Quinn Ravi Sara Tom".split()
LAST_NAMES = "Okafor Lindqvist Moreau Patel Nakamura Silva Kowalski Haddad Byrne Costa".split()


class Ids:
    """Increasing snowflake-like ids, as the real ones grow with time."""

    def __init__(self, rng: random.Random, start: int):
        self.rng, self.next = rng, start

    def __call__(self) -> str:
        self.next += self.rng.randint(1_000, 90_000)
        return str(self.next)


def make_author(rng: random.Random, ids: Ids, followers: int) -> dict:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    handle = f"{first.lower()}_{last.lower()[:4]}{rng.randint(1, 999)}"
    return {
        "type": "user",
        "userName": handle,
        "url": f"https://x.com/{handle}",
        "twitterUrl": f"https://twitter.com/{handle}",
        "id": ids(),
        "name": f"{first} {last}",
        "isVerified": False,
        "isBlueVerified": rng.random() < 0.2,
        "followers": followers,
        "following": rng.randint(50, 2_000),
        "createdAt": "Mon Mar 04 10:00:00 +0000 2019",
    }


def twitter_date(moment: datetime) -> str:
    return moment.strftime("%a %b %d %H:%M:%S +0000 %Y")


def tweet_record(
    tweet_id: str,
    text: str,
    author: dict,
    created: datetime,
    likes: int,
    retweets: int,
    parent: dict | None = None,
    conversation_id: str | None = None,
    lang: str = "en",
    query: str | None = None,
    media: bool = False,
    link: str | None = None,
) -> dict:
    if parent is not None:
        text = f"@{parent['author']['userName']} {text}"
    urls = [{"url": "https://t.co/x1Demo", "expanded_url": link, "display_url": link[8:30]}] if link else []
    record = {
        "type": "tweet",
        "id": tweet_id,
        "url": f"https://x.com/{author['userName']}/status/{tweet_id}",
        "twitterUrl": f"https://twitter.com/{author['userName']}/status/{tweet_id}",
        "text": text + (" https://t.co/x1Demo" if link else "") + (" https://t.co/p1Demo" if media else ""),
        "source": "Twitter Web App",
        "retweetCount": retweets,
        "replyCount": 0,
        "likeCount": likes,
        "quoteCount": 0,
        "viewCount": likes * 40 + 100,
        "bookmarkCount": likes // 10,
        "createdAt": twitter_date(created),
        "lang": lang,
        "isReply": parent is not None,
        "inReplyToId": parent["id"] if parent else None,
        "conversationId": conversation_id or tweet_id,
        "inReplyToUserId": parent["author"]["id"] if parent else None,
        "inReplyToUsername": parent["author"]["userName"] if parent else None,
        "author": author,
        "entities": {"hashtags": [], "symbols": [], "urls": urls, "user_mentions": []},
        "isRetweet": False,
        "isQuote": False,
        "media": ["https://pbs.twimg.com/media/DemoPhoto1.jpg"] if media else [],
    }
    if query:
        record["_replytune_query"] = query
    return record


# Replies every real scrape holds and the seed's filters drop: (kind, text or None for a topic insight).
BAD_REPLIES = [
    ("bot", None),
    ("influencer", None),
    ("first_minute", None),
    ("few_likes", None),
    ("link", "I wrote up our whole setup, benchmarks included, in a longer post here"),
    ("media", "Here is the dashboard from our rollout, the drop on the right is the change"),
    ("short", "So true 👏"),
    ("generic", "Congrats! Love this, thanks for sharing. Great thread, well said, totally agree. Keep it up 🙌"),
    ("spam", "gm ser, this is why we stay locked in. builders keep building, wagmi frens 🚀🚀"),
    ("other_language", "Muy buen punto. Nosotros migramos el año pasado y el rendimiento mejoró muchísimo, gracias."),
    ("other_language", "Sehr guter Punkt, wir haben das letztes Jahr umgestellt und es läuft seitdem viel stabiler."),
    ("toxic", "Dumbest fucking take I have read all week, you clearly have no idea how databases or indexes work."),
    ("self_reply", "Adding some context: this was measured on our staging cluster over two full weeks of traffic."),
]


# Later rounds of a large sample (--records) reword the same conversations, so texts stay distinct.
ROOT_FRAMES = [
    "{}",
    "Lesson from this quarter: {}",
    "{} Curious how other teams handle it.",
    "Unpopular opinion: {}",
    "{} Took us far too long to learn this.",
    "Note to my future self: {}",
    "{} Happy to be proven wrong.",
]
REPLY_DETAILS = [
    "We saw it on {n} services.",
    "Took us {n} days to confirm.",
    "It showed up again on {n} nodes last week.",
    "Our p99 moved about {n}% after that.",
    "That was with roughly {n} requests a second.",
    "We have run it like that for {n} weeks now.",
]


def reworded(text: str, rng: random.Random, round_: int, frames: list[str] | None = None) -> str:
    """Round 0: the text itself (no random draw, so the bundled sample never changes); later rounds: reframed."""
    if round_ == 0:
        return text
    if frames is not None:
        return rng.choice(frames).format(text)
    detail = rng.choice(REPLY_DETAILS).format(n=rng.randint(2, 900))
    return f"{text} {detail}" if len(text) + len(detail) < 250 else text


def make_records(rounds: int = 1) -> list[dict]:
    """The sample: `rounds` times the 32 conversations and the filtered extras, then repeated ids, placeholders and
    records without an id, shuffled. One round is the bundled demo sample (334 records)."""
    rng = random.Random(20250901)
    ids = Ids(rng, 1_960_000_000_000_000_000)
    records: list[dict] = []
    moment = START
    for round_ in range(rounds):
        moment = add_round(records, rng, ids, moment, round_)
    # repeated ids (the actor returns some tweets twice), placeholders, and a record without an id
    records += [dict(record) for record in rng.sample(records, 3 * rounds)]
    records += [{"noResults": True} for _ in range(2 * rounds)]
    for index in range(rounds):
        broken = dict(records[1 + index])
        del broken["id"]
        records.append(broken)
    rng.shuffle(records)
    return records


def add_round(records: list[dict], rng: random.Random, ids: Ids, moment: datetime, round_: int) -> datetime:
    prolific = make_author(rng, ids, followers=4_200)  # answers everything: the per-author cap keeps 10
    prolific_left = 12
    good_replies: list[dict] = []
    for query, roots, insights in TOPICS:
        for root_index, root_text in enumerate(roots):
            moment += timedelta(hours=rng.randint(3, 20))
            root_author = make_author(rng, ids, followers=rng.randint(8_000, 90_000))
            root = tweet_record(
                ids(),
                reworded(root_text, rng, round_, ROOT_FRAMES),
                root_author,
                moment,
                likes=rng.randint(250, 1_900),
                retweets=rng.randint(12, 400),
                query=query,
            )
            records.append(root)
            direct_replies = []
            for insight in insights[root_index * 3 : root_index * 3 + 3]:
                if prolific_left and rng.random() < 0.4:
                    author, prolific_left = prolific, prolific_left - 1
                else:
                    author = make_author(rng, ids, followers=rng.randint(300, 15_000))
                reply = tweet_record(
                    ids(),
                    rng.choice(OPENERS) + reworded(insight, rng, round_),
                    author,
                    moment + timedelta(minutes=rng.randint(8, 2_000)),
                    likes=rng.randint(6, 420),
                    retweets=rng.randint(0, 20),
                    parent=root,
                    conversation_id=root["id"],
                )
                records.append(reply)
                direct_replies.append(reply)
                good_replies.append(reply)
            # the noise of a real scrape, a few kinds per conversation
            for kind, text in rng.sample(BAD_REPLIES, 5):
                text = text or rng.choice(insights)
                followers = {"bot": 37, "influencer": 240_000}.get(kind, rng.randint(300, 15_000))
                author = root_author if kind == "self_reply" else make_author(rng, ids, followers=followers)
                delay = timedelta(seconds=40) if kind == "first_minute" else timedelta(minutes=rng.randint(8, 2_000))
                records.append(
                    tweet_record(
                        ids(),
                        text,
                        author,
                        moment + delay,
                        likes=rng.randint(0, 3) if kind == "few_likes" else rng.randint(6, 300),
                        retweets=0,
                        parent=root,
                        conversation_id=root["id"],
                        lang={"other_language": "es" if "Muy" in text else "de"}.get(kind, "en"),
                        media=kind == "media",
                        link="https://blog.example.dev/posts/our-setup" if kind == "link" else None,
                    )
                )
            # a reply to a reply (not a direct reply to the root)
            records.append(
                tweet_record(
                    ids(),
                    "Thanks, that matches what we measured as well, especially the part about monitoring it closely.",
                    make_author(rng, ids, followers=rng.randint(300, 15_000)),
                    moment + timedelta(days=1),
                    likes=rng.randint(6, 40),
                    retweets=0,
                    parent=direct_replies[0],
                    conversation_id=root["id"],
                )
            )
    # roots the seed's root filters reject, with replies that are otherwise fine
    for likes, retweets in ((40, 2), (9_000, 1_200)):
        moment += timedelta(hours=5)
        root = tweet_record(
            ids(),
            "Shipping small and often beats big launches. Our incident count dropped once deploys became boring.",
            make_author(rng, ids, followers=50_000),
            moment,
            likes=likes,
            retweets=retweets,
            query="deploys",
        )
        records.append(root)
        records.append(
            tweet_record(
                ids(),
                "Feature flags made that possible for us; merging unfinished work behind a flag keeps branches short.",
                make_author(rng, ids, followers=2_000),
                moment + timedelta(hours=2),
                likes=30,
                retweets=1,
                parent=root,
            )
        )
    # exact copies of good replies, posted later with fewer likes (copy-paste accounts)
    for original in rng.sample(good_replies, 4):
        copy = dict(original, id=ids(), likeCount=max(5, original["likeCount"] // 3))
        copy["author"] = make_author(rng, ids, followers=rng.randint(300, 15_000))
        records.append(copy)
    return moment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", nargs="?", type=Path, default=OUTPUT)
    parser.add_argument(
        "--records", type=int, default=None, help="a large sample of exactly this many records (default: the demo's)"
    )
    args = parser.parse_args()
    rounds = 1 if args.records is None else -(-args.records // 330)
    records = make_records(rounds)[: args.records]
    with open(args.output, "w", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"wrote {len(records)} records to {args.output}")


if __name__ == "__main__":
    main()
