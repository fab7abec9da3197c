"""Derive ``src/esmonitor/voices/data/lexicon.txt``: the most common English and French words.

The redactor reads two capitalised words in a row as a person's name only when neither is an
ordinary word ("Oluwaseun Adeyemi" is a name; "Common Assessment", "Food Bank" are not). This
script writes that list of ordinary words once, from the ``wordfreq`` package's frequency
lists; it is not a dependency of esmonitor, which reads only the plain list it leaves. Run::

    python -m pip install wordfreq==3.1.1
    python scripts/derive_lexicon.py

Words shorter than three letters and words that are only digits are left out.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

TOP = 10_000
OUT = Path(__file__).resolve().parents[1] / "src" / "esmonitor" / "voices" / "data" / "lexicon.txt"


def fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


def main() -> None:
    from wordfreq import top_n_list

    words = {fold(w) for lang in ("en", "fr") for w in top_n_list(lang, TOP)
             if len(w) >= 3 and w.isalpha()}
    header = [f"# The {TOP:,} most common English and French words (wordfreq 3.1.1), folded to lower case",
              "# without accents, at least three letters: ordinary words, for the redactor's reading of",
              "# capitalised pairs. Written by scripts/derive_lexicon.py; plain data."]
    OUT.write_text("\n".join([*header, *sorted(words)]) + "\n", "utf-8")
    print(f"{len(words):,} words -> {OUT}")


if __name__ == "__main__":
    main()
