"""The shop assistant (issue 15): model load time, answer latency, memory, and accuracy on the question set.

Loads the engine on the demo shop's knowledge (the seed FAQ and the demo catalog), then:

1. load: the Korean analyser (kiwipiepy; its model ships in the PyPI wheel) and the indexes, in seconds,
   and the process's resident memory before and after (what the bot's models hold);
2. latency: every question of the set answered one at a time, ``--rounds`` times over (shuffled), p50 /
   p99 / max in milliseconds on this machine's CPU;
3. accuracy on the held-out half (``--split tune`` or ``all`` for the others) per language and intent:
   top-1, answered right and confidently, wrong confident answers, handovers; each headline figure
   beside its target.

    python bench/bot.py
    python bench/bot.py --rounds 20 --show-failures
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import time
from pathlib import Path

import yaml

from touchline.assistant.engine import Assistant
from touchline.assistant.evaluate import ANSWERABLE, Report, evaluate
from touchline.demo.shop_assistant import demo_knowledge, demo_products

QUESTIONS = Path(__file__).resolve().parent.parent / "tests" / "data" / "assistant_questions.yaml"


def _rss_mb() -> float:
    """Resident memory now (Linux /proc), in MB; falls back to the peak from getrusage."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _ratio(value: float, target: float, *, at_most: bool) -> str:
    met = value <= target if at_most else value >= target
    verdict = "met" if met else "NOT met"
    return f"(target {'<=' if at_most else '>='} {target:g}: {value / target:.2f}x of it, {verdict})"


def _table(report: Report) -> None:
    header = f"  {'language':8} {'intent':13} {'n':>4} {'top-1':>7} {'right+sure':>10} {'wrong+sure':>10}"
    print(header + f" {'handed':>7}")
    for (lang, intent), t in sorted(report.by_group.items()):
        print(f"  {lang:8} {intent:13} {t.n:4d} {t.right / t.n:7.1%} {t.confident_right / t.n:10.1%} "
              f"{t.wrong_confident / t.n:10.1%} {t.handed_over / t.n:7.1%}")
    for lang in ("ko", "en"):
        t = report.total(intents=ANSWERABLE, language=lang)
        if t.n:
            print(f"  {lang:8} {'answerable':13} {t.n:4d} {t.right / t.n:7.1%} {t.confident_right / t.n:10.1%} "
                  f"{t.wrong_confident / t.n:10.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="how many times each question is answered")
    parser.add_argument("--split", choices=("heldout", "tune", "all"), default="heldout")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args()

    questions = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    gc.collect()
    rss0 = _rss_mb()
    t = time.perf_counter()
    from touchline.assistant.text import kiwi

    kiwi()
    kiwi_s = time.perf_counter() - t
    rss_kiwi = _rss_mb()
    knowledge = demo_knowledge()
    t = time.perf_counter()
    bot = Assistant(knowledge)
    index_s = time.perf_counter() - t
    gc.collect()
    rss1 = _rss_mb()
    n_entries = len(knowledge.faq_ids)
    print(f"knowledge: {n_entries} FAQ entries (ko + en, {sum(len(e.questions) for e in knowledge.faq)} phrasings), "
          f"{len(knowledge.products)} products; {len(questions)} questions "
          f"({sum(q['split'] == 'heldout' for q in questions)} held out)")
    print(f"load: Korean analyser {kiwi_s:.2f} s, indexes {index_s:.2f} s")
    print(f"memory (RSS): {rss0:.0f} MB before, {rss_kiwi:.0f} MB with the analyser (+{rss_kiwi - rss0:.0f} MB), "
          f"{rss1:.0f} MB with the indexes (+{rss1 - rss_kiwi:.0f} MB); held by the bot's models: "
          f"{rss1 - rss0:.0f} MB")

    texts = [q["text"] for q in questions]
    rng = random.Random(args.seed)
    latencies: list[float] = []
    cpu0 = time.process_time()
    for _ in range(args.rounds):
        rng.shuffle(texts)
        for text in texts:
            t = time.perf_counter()
            bot.answer(text)
            latencies.append((time.perf_counter() - t) * 1000)
    cpu = time.process_time() - cpu0
    p99 = _pct(latencies, 0.99)
    print(f"latency ({len(latencies):,} answers, one at a time): p50 {_pct(latencies, 0.5):.2f} ms, "
          f"p99 {p99:.2f} ms, max {max(latencies):.2f} ms, CPU {cpu / len(latencies) * 1000:.2f} ms an answer   "
          + _ratio(p99, 300, at_most=True))

    chosen = questions if args.split == "all" else [q for q in questions if q["split"] == args.split]
    categories = {p.id: p.category for p in demo_products()}
    report = evaluate(bot, chosen, categories.get)
    print(f"\naccuracy on the {args.split} questions ({len(chosen)}):")
    _table(report)
    answerable = report.total(intents=ANSWERABLE)
    oos = report.total(intents=("none",))
    print(f"  top-1 on answerable questions: {report.top1_answerable:.1%} ({answerable.right}/{answerable.n})   "
          + _ratio(report.top1_answerable, 0.90, at_most=False))
    print(f"  answered right and confidently: {answerable.confident_right / max(answerable.n, 1):.1%} of answerable")
    print(f"  wrong confident answers: {report.wrong_confident_rate:.1%} ({report.total().wrong_confident}/"
          f"{report.total().n})   " + _ratio(max(report.wrong_confident_rate, 1e-9), 0.03, at_most=True))
    print(f"  requests for a person handed over: {report.handover_rate:.1%}   "
          + _ratio(report.handover_rate, 1.0, at_most=False))
    print(f"  out-of-scope questions answered confidently: {oos.wrong_confident}/{oos.n}; "
          f"handovers nobody asked for: {report.false_handovers}")
    if args.show_failures:
        print("\nfailures:")
        for q, r in report.failures:
            expected = q.get("faq") or q.get("product_type") or q.get("category") or ""
            got = r.faq_id or ",".join(r.product_ids[:2]) or ""
            print(f"  {'SURE' if r.confident else 'unsure'} {r.confidence:.2f} [{q['language']}] {q['text']!r}: "
                  f"expected {q['intent']} {expected}, got {r.intent} {got}")


if __name__ == "__main__":
    main()
