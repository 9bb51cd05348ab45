"""Template rendering alone: microseconds per ``CompiledTemplate.render`` for the campaign bench's e-mail
(``bench/journeys.py``), a demo push message and a cart e-mail with a loop and filters. The best of
``--repeat`` rounds of ``--number`` renders each, timed in CPU seconds of the process (the machine is
shared: wall-clock figures move by half with the neighbours' load; the minimum is the figure).

    python bench/render.py
    python bench/render.py --number 20000 --repeat 7
"""

from __future__ import annotations

import argparse
import time
import timeit
from typing import Any

from touchline.messaging.templates import validate_template

CAMPAIGN = {"key": "vip-coupon", "channel": "email", "default_locale": "ko", "variants": {
    "ko": {"subject": "{{ profile.traits.name }}님을 위한 쿠폰", "html":
           "<p>{{ profile.traits.name }}님, {{ 10000 | krw }} 할인 쿠폰입니다.</p>"
           "<a href=\"https://shop.example/c\">받기</a>"},
    "en": {"subject": "A coupon for {{ profile.traits.name }}", "html": "<p>Hi</p>"}}}
PUSH = {"key": "cart-reminder", "channel": "push", "default_locale": "ko", "variants": {"ko": {
    "title": "{{ profile.traits.firstName or '고객' }}님, 장바구니에 담아 두신 상품이 기다리고 있어요",
    "body": "{{ event.name }}({{ event.price | krw }}) 상품이 아직 장바구니에 있어요. "
            "품절되기 전에 주문을 마무리하세요.",
    "url": "https://www.haru-market.example/cart?cart={{ event.cart_id }}"}}}
CART = {"key": "cart", "channel": "email", "default_locale": "ko", "variants": {"ko": {
    "subject": "{{ profile.traits.name|default('고객') }}님, 장바구니에 {{ cart.items|length }}개 상품이 있어요",
    "html": "<p>{{ profile.traits.name }}님</p><ul>{% for item in cart.items %}<li>{{ item.name }} "
            "{{ item.price|krw }} x {{ item.quantity }} = {{ (item.price * item.quantity)|krw }}</li>{% endfor %}"
            "</ul><p>합계 {{ cart.items|sum(attribute='price')|krw }}</p>"
            "<a href=\"{{ cart.url }}\">장바구니 보기</a> <a href=\"{{ unsubscribe_url }}\">수신 거부</a>"}}}

CONTEXT: dict[str, Any] = {
    "profile": {"id": "p1", "traits": {"name": "김민지", "firstName": "민지"}, "locale": "ko-KR"},
    "event": {"name": "울 니트", "price": 59000, "cart_id": "cart-9"},
    "cart": {"url": "https://shop.example/cart", "items": [
        {"name": f"상품 {i}", "price": 10000 + i * 1000, "quantity": 1 + i % 3} for i in range(5)]},
    "unsubscribe_url": "https://shop.example/u/1",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--number", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for name, definition in (("campaign e-mail", CAMPAIGN), ("demo push", PUSH), ("cart e-mail, 5 items", CART)):
        compiled = validate_template(definition)

        def render(compiled: Any = compiled) -> Any:
            return compiled.render(CONTEXT, locale="ko-KR", timezone="Asia/Seoul", text_alternative=False)

        best = min(timeit.repeat(render, number=args.number, repeat=args.repeat, timer=time.process_time))
        best /= args.number
        print(f"{name:22} {best * 1e6:7.1f} µs per render")


if __name__ == "__main__":
    main()
