"""Open-text benchmark: language, redaction and themes for 100,000 answers, CPU only.

Run from the repository root::

    .venv/bin/python benchmarks/voices.py [--clients N]   # N answers (default 100,000)

Synthetic answers (half English, half French; a third carry planted names, phones or e-mails),
each phase in a fresh child process (wall time, peak memory):

- ``language``: Lingua over every answer;
- ``redact``: the full redactor over every answer; baseline ``phones``: libphonenumber's matcher
  alone over the same answers (the cheapest single detector, to price the rest);
- ``themes``: the theme finder per language with the number of themes chosen by silhouette
  (k = 2 to 12); baseline ``kmeans``: TF-IDF and k-means at the true k, nothing else.

Target (printed PASS/FAIL): language + redaction + themes under 5 minutes on 2 cores.
"""

from __future__ import annotations

import time

from harness import Result, base_parser, peak_rss_mib, run_child, spawn_all, versions, write_results

PHASES = ("language", "phones", "redact", "kmeans", "themes")
TARGET_S = 300.0


def answers(n: int, seed: int) -> list:
    from esmonitor.synth.voices import open_answers

    return open_answers(n // 2, "en", seed) + open_answers(n - n // 2, "fr", seed + 1)


def run_phase(phase: str, n: int, seed: int) -> Result:
    data = answers(n, seed)
    texts = [a.text for a in data]
    start = time.perf_counter()
    extra: Result = {}
    if phase == "language":
        from esmonitor.voices.language import detect

        codes = detect(texts)
        extra["accuracy"] = sum(c == a.language for c, a in zip(codes, data, strict=True)) / len(data)
    elif phase == "phones":
        import phonenumbers

        extra["found"] = sum(1 for t in texts for _ in phonenumbers.PhoneNumberMatcher(
            t, "CA", leniency=phonenumbers.Leniency.POSSIBLE))
    elif phase == "redact":
        from esmonitor.voices.redact import Redactor

        redactor = Redactor()
        clean = [redactor.redact(t) for t in texts]
        planted = [(c, v) for c, a in zip(clean, data, strict=True) for _, v in a.planted]
        extra["recall"] = sum(v not in c for c, v in planted) / len(planted)
    else:
        from sklearn.metrics import adjusted_rand_score

        scores = {}
        for language in ("en", "fr"):
            part = [a for a in data if a.language == language]
            if phase == "themes":
                from esmonitor.voices.themes import find_themes

                labels = find_themes([a.text for a in part], language, seed=seed).assignment
            else:
                from sklearn.cluster import KMeans
                from sklearn.feature_extraction.text import TfidfVectorizer

                x = TfidfVectorizer(min_df=2, sublinear_tf=True).fit_transform([a.text for a in part])
                labels = KMeans(n_clusters=8, n_init=1, random_state=seed).fit(x).labels_
            scores[language] = adjusted_rand_score([a.theme for a in part], labels)
        extra["adjusted_rand"] = scores
    return {"phase": phase, "answers": len(texts), "seconds": time.perf_counter() - start,
            "peak_rss_mib": peak_rss_mib(), **extra}


def main() -> int:
    parser = base_parser(__doc__, PHASES, "unused (one run per phase)")
    parser.set_defaults(clients=100_000)
    args = parser.parse_args()
    if run_child(args, lambda a: run_phase(a.phase, a.clients, a.seed)):
        return 0
    results = spawn_all(__file__, PHASES, args)
    print()
    print(f"{'phase':<10}{'answers':>10}{'seconds':>10}{'peak MiB':>10}  quality")
    for phase, r in results.items():
        quality = {k: r[k] for k in ("accuracy", "recall", "adjusted_rand", "found") if k in r}
        print(f"{phase:<10}{r['answers']:>10,}{r['seconds']:>10.1f}{r['peak_rss_mib']:>10.0f}  {quality}")
    total = sum(results[p]["seconds"] for p in ("language", "redact", "themes"))
    print(f"redact / phones alone: {results['redact']['seconds'] / results['phones']['seconds']:.1f}; "
          f"themes / plain k-means at the true k: {results['themes']['seconds'] / results['kmeans']['seconds']:.1f}")
    checks = [(f"language + redaction + themes for {args.clients:,} answers: {total:.0f} s (target < {TARGET_S:.0f})",
               total < TARGET_S)]
    for text, ok in checks:
        print(("PASS " if ok else "FAIL ") + text)
    write_results(args.json, {"versions": versions(("scikit-learn", "lingua-language-detector", "phonenumbers")),
                              "results": results, "checks": [{"check": t, "pass": ok} for t, ok in checks]})
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
