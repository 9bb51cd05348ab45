"""The shop assistant's first answer after a start (issue 15): a KakaoTalk skill waits 5 s for its answer.

For each setting of ``TOUCHLINE_ASSISTANT_WARM_START`` (on, the default; off, the reference), on a fresh
embedded store holding the seed FAQ: `touchline serve` starts, and ``--after`` seconds after it answers
``/health`` the first question arrives as an Open Builder skill request. Printed: how long the skill
request took, and whether the bot's answer was in it (past ``KAKAO_BUDGET`` the skill answers with an
acknowledgement and leaves the question to the worker and to people). Then the same question from another
user, warm, as the reference.

    python bench/bot_start.py
    python bench/bot_start.py --after 0 10     # at once, and 10 s after the start
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import load_average, serving

from touchline.conversations.bot import KAKAO_BUDGET

SECRET = "bench-skill-secret"
QUESTION = "반품 어떻게 해요?"
KAKAO_LIMIT = 5.0


def _seeded_store(data_dir: Path) -> str:
    """The seed FAQ in the default workspace, and an inbound key (the skill server's URL token)."""
    from touchline.assistant import service
    from touchline.platform import open_stores
    from touchline.settings import Settings
    from touchline.workspaces.service import create_key, workspace_id_by_name

    stores = open_stores(Settings(data_dir=data_dir))
    try:
        with stores.read() as conn:
            workspace_id = workspace_id_by_name(conn, "default")
        service.load_seed(stores, workspace_id)
        with stores.write() as conn:
            return create_key(conn, workspace_id, "inbound", "bench")
    finally:
        stores.dispose()


def _skill(client: httpx.Client, path: str, user: str) -> tuple[float, str]:
    body = orjson.dumps({"userRequest": {"user": {"id": user}, "utterance": QUESTION, "lang": "ko"},
                         "bot": {"id": "bench"}})
    started = time.perf_counter()
    response = client.post(path, content=body, headers={"Content-Type": "application/json",
                                                         "X-Touchline-Skill-Secret": SECRET})
    took = time.perf_counter() - started
    response.raise_for_status()
    return took, response.json()["template"]["outputs"][0]["simpleText"]["text"]


def run(warm: bool, after: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        key = _seeded_store(data_dir)
        env = {"TOUCHLINE_DATA_DIR": str(data_dir), "TOUCHLINE_KAKAO_SKILL_SECRET": SECRET,
               "TOUCHLINE_ASSISTANT_WARM_START": "true" if warm else "false"}
        started = time.perf_counter()
        with serving(env) as server, httpx.Client(base_url=server.url, timeout=30) as client:
            up = time.perf_counter() - started
            time.sleep(after)
            first, text = _skill(client, f"/webhooks/kakao/{key}", "first-user")
            again, _ = _skill(client, f"/webhooks/kakao/{key}", "second-user")
    answered = "반품" in text and "받았습니다" not in text
    verdict = "met" if first < KAKAO_LIMIT and answered else "NOT met"
    print(f"  warm start {'on ' if warm else 'off'}, question {after:4.1f} s after /health "
          f"(server up in {up:.1f} s): first skill answer {first:5.2f} s, "
          f"{'the bot answered' if answered else 'acknowledged only'}; next user {again * 1000:.0f} ms   "
          f"(Kakao waits {KAKAO_LIMIT:.0f} s, the bot's budget {KAKAO_BUDGET:.0f} s: {verdict})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--after", type=float, nargs="+", default=[10.0],
                        help="seconds between the server answering /health and the first question")
    args = parser.parse_args()
    print(f"bench/bot_start.py, load average {load_average()}")
    for after in args.after:
        for warm in (True, False):
            run(warm, after)


if __name__ == "__main__":
    main()
