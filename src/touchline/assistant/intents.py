"""Rules for the intents that must not depend on a ranker's mood: an explicit request for a person (must
hand over every time), greetings and thanks, and questions about the shopper's own order. Product and FAQ
questions are decided by the rankers (:mod:`touchline.assistant.retrieval`) with the cue words here.

Every function takes text already passed through :func:`touchline.assistant.text.normalize`.
"""

from __future__ import annotations

import re

# --- a person, please ---------------------------------------------------------------------------------
# Korean is matched with spaces removed (``상담원 연결``, ``상담원연결``, ``상 담 원``).
_KO_PERSON = re.compile(
    r"상담원|상담사|상담직원|상담선생|상담매니저|담당자|담당직원|고객센터직원|매니저(님)?(좀)?(이랑|하고|와|랑|한테|연결|바꿔|불러|계)"
    r"|직원(분|님)?(이랑|하고|과|랑|한테|연결|바꿔|불러|계세요|계신가|있나|있어|좀|이랑|분이랑|이요|요$)"
    r"|(진짜|실제|리얼|살아있는)(사람|인간|상담)"
    r"|(챗봇|봇|로봇|기계|ai|자동응답)(이랑|하고|랑|이)?(말고|아니고|싫|말구|말씀말고|대신)"
    r"|(?<!다른)(?<!받는)(?<!모르는)(?<!친구)"
    r"사람(이랑|하고|과|랑|한테|이요|이요요|으로|좀|연결|바꿔|불러|있어요|있나요|있어|없나|없어|이랑요|이야기|얘기|대화|통화)"
    r"|(?<!다른)(?<!받는)(?<!모르는)(사람|인간)(이)?(랑|하고)?(얘기|이야기|대화|통화|상담)"
    r"|전화(상담|통화)(원해|하고싶|요청|연결|부탁|해주|할래|하고파)"
    r"|(통화|전화)(연결|하고싶어요|할수있을까)"
    r"|상담(을|좀)?(연결|받고싶|하고싶|원해|원합|요청|부탁|해주실분|해줄사람|가능한분)"
    r"|(전화|유선|통화)(로)?상담(을)?(하고싶|받고싶|원해|원합|요청|부탁|가능한가|되나|할수있)"
    r"|사람(이|한테|이랑|하고)?(답해|대답|응대|상대해|말해줘|말해주세요|봐주세요)"
    r"|(관리자|책임자|점장)(님)?(이랑|하고|와|랑|한테|연결|바꿔|불러|요$|좀)"
)
_EN_PERSON_NOUN = (r"(human|humans|agent|agents|person|people|someone|somebody|representative|rep|operator|staff|"
                   r"employee|manager|supervisor|advisor|adviser|associate|customer service|customer support|"
                   r"customer care|"
                   r"support team|support agent|support|cs team|live chat)")
_EN_PERSON = re.compile(
    rf"\b(talk|speak|chat|connect|transfer|put me through|pass me|get me|give me|let me talk|need|want|reach|"
    rf"escalate|hook me up|looking for|can i get|could i get|hand me over|put me in touch|in touch with|"
    rf"call back|callback|contact (a|an|the|your) (live|real))\b.*\b{_EN_PERSON_NOUN}\b"
    rf"|\b{_EN_PERSON_NOUN}\b.*\b(i can|i could|to) (talk|speak|chat|call|message|text)\b"
    r"|\b(is|are) (there )?(any|a|an)?\s*(one|someone|somebody|anyone|anybody|humans?|people|staff|agents?)\b"
    r".*\b(there|here|working|around|available|online|from (the|your) (shop|store|team))\b"
    r"|\b(someone|somebody|anyone|a person|an? (staff|team) member)\s+(from|at|in)\s+(the|your)\s+"
    r"(shop|store|team|company|support|cs)\b"
    r"|\b(someone|somebody|a person|anyone|staff|staff member|human|humans)\b.*\b(help me|answer me|contact me|call me|"
    r"i can call|to help|to talk|on the line|on the phone)\b"
    r"|\b(have|get) (someone|somebody|a person) (to )?(call|contact|email|help)\b"
    r"|\b(human|person|agent|rep|representative|operator|staff|someone|support)\s*(please|pls|plz|now|asap|!)"
    r"|\b(live support|live help|live agent)\b"
    r"|\b(human being|an actual (person|employee|human)|a living person)\b"
    r"|\b(real|actual|live|living)\s+(person|human|agent|people|operator|representative|rep|staff)\b"
    r"|\bnot\s+(a\s+|the\s+)?(bot|robot|machine|ai|chatbot)\b|\b(no|stop)\s+(more\s+)?(bots?|robots?|chatbot)\b"
    r"|^\s*(human|agent|operator|representative|person|rep)s?\b"
    r"|\b(human|agent|operator|representative)\s*(please|pls|plz|now|asap)\b"
)


# "사람한테 선물로 보내고 싶어요" is about someone else, not a request for a person.
_GIFT = re.compile(r"선물|보내|보낼|배송|주소")


def wants_person(text: str) -> bool:
    """An explicit request for a person, in Korean or English."""
    if not text:
        return False
    squeezed = re.sub(r"[\s.,!?~]+", "", text)
    match = _KO_PERSON.search(squeezed)
    if match and not (match.group(0).startswith(("사람", "인간")) and _GIFT.search(squeezed)):
        return True
    return bool(_EN_PERSON.search(text))


# --- greetings and thanks -----------------------------------------------------------------------------
_SMALLTALK_KO = re.compile(
    r"안녕(하세요|하십니까|히계세요|히가세요)?|하이|ㅎㅇ|감사(합니다|해요|드려요|드립니다)?|고마(워|워요|웠어요|습니다)?|고맙(습니다)?"
    r"|땡큐|ㄱㅅ|ㄳ|수고(하세요|하셨습니다|하셨어요|많으세요|많으셨어요)?|좋은\s?(아침|하루|저녁)(이에요|입니다|되세요|보내세요)?|반가워(요)?|잘\s?가|바이|ㅂㅇ"
    r"|[ㅎㅋㅠㅜ^~!.?\s]+|(네|넵|넹|예|응|ㅇㅇ|알겠(습니다|어요)?|오키|오케이)"
)
_SMALLTALK_EN = re.compile(
    r"(hi|hello|hey|hiya|yo|good (morning|afternoon|evening|day|night)|thanks|thank (you|u)|thx|ty|cheers|bye|goodbye"
    r"|a bunch|a ton|mate|see (ya|you)|later|have a (nice|good|great) (day|one|night|evening|weekend)"
    r"|for the help|for your help|for helping|appreciate (it|that|you)|morning|night|evening|great|perfect"
    r"|ok|okay|great|awesome|cool|so much|a lot|very much|there|again|everyone|all)"
)


# Playful spellings: endings stretched or softened (안녕하세용, 감사합니당, 감사합니다아, 안뇽), letters repeated
# (heyyy, hellooo, byee, thank youuu).
_PLAYFUL_KO = ((re.compile(r"(?<=[가-힣])(용|여|염|영)(?=[\s!?.~^ㅎㅋㅠㅜ]*$|[\s!?.~^ㅎㅋㅠㅜ]+)"), "요"),
               (re.compile(r"(?<=니)당(?=[\s!?.~^ㅎㅋㅠㅜ]*$|[\s!?.~^ㅎㅋㅠㅜ]+)"), "다"),
               (re.compile(r"(?<=[다요])[아어오우]+(?=[\s!?.~^ㅎㅋㅠㅜ]*$|[\s!?.~^ㅎㅋㅠㅜ]+)"), ""),
               (re.compile(r"안뇽|안냥|안녕안녕"), "안녕"),
               (re.compile(r"(?<=[하루녁침])\s+(?=(이에요|입니다|되세요|보내세요))"), ""))


_STRETCHED_EN = tuple((re.compile(p), w) for p, w in (
    (r"\bhe+y+\b", "hey"), (r"\bhel+o+\b", "hello"), (r"\bhi+\b", "hi"), (r"\bby+e+\b", "bye"),
    (r"\byo+u+\b", "you"), (r"\bthanks+\b", "thanks"), (r"\bthx+\b", "thx")))


def _unplayful(text: str) -> str:
    for pattern, replacement in _PLAYFUL_KO:
        text = pattern.sub(replacement, text)
    for pattern, word in _STRETCHED_EN:
        text = pattern.sub(word, text)
    return text


def is_smalltalk(text: str) -> bool:
    """Only a greeting, thanks or an acknowledgement: nothing else to answer."""
    if not text:
        return False
    text = _unplayful(text)
    rest = _SMALLTALK_KO.sub(" ", text)
    rest = _SMALLTALK_EN.sub(" ", rest)
    rest = re.sub(r"[\s!?.~,^:;()\-_*ㅎㅋㅠㅜ요용여]+", "", rest)
    return rest == "" and bool(re.search(r"[a-z가-힣ㄱ-ㅎ]", text))


# --- the shopper's own order --------------------------------------------------------------------------
_KO_ORDER_NOUN = re.compile(r"주문|택배|배송|물건|시킨|시켰|산거|산것|샀는데|구매한|구매했|주문한|주문했|결제한|결제했"
                            r"|에산|제가산|내가산"
                            r"|소포|상품|제꺼|내꺼")
_KO_STATUS = re.compile(
    r"어디쯤|어디까지|언제와|언제오|언제도착|언제받|언제쯤와|언제쯤받|언제쯤도착|안와|안왔|안옴|안오|"
    r"아직|출발|배송상태|주문상태|진행상황|조회|확인해(주|줘)|확인좀|상태(알려|확인)|왜이렇게늦|늦어|도착안|못받|안받|"
    r"(출고|발송|배송|출발)(됐|되었|했|시작|중)|어떻게됐|어떻게되었|어떻게되고|소식(이)?없|무소식|오늘(와|오|도착|받)"
    r"|내일(와|오|도착|받)|도착예정|배송현황|현황|올까요|언제돼|언제되|도착언제|언제쯤"
)
# "어디예요" asks where a parcel is only when the parcel is named (not "새벽배송 지역 어디예요").
_KO_WHERE = re.compile(r"(택배|주문|물건|소포|시킨거|산거|주문한거|상품)(이|가|은|는)?(지금)?"
                       r"(어디예요|어디에요|어디있|어디에있|어디임|어디야)")
# General questions (before buying) and how-to questions are FAQ entries, not the shopper's order.
_KO_GENERAL = re.compile(r"주문하면|시키면|결제하면|사면|구매하면|보통|며칠걸|며칠이면|며칠만에|얼마나걸"
                         r"|어떻게(?!됐|되었|된|되고)|넣으면|하면|이상이면|버튼|마이페이지|주소|바꿀|바꿔|변경|수정|배송비"
                         r"|방법|어디서|하는법"
                         r"|환불|반품|교환|취소|나머지|따로|일부|하나만|다른(사이즈|색|상품|거|게|물건)|잘못|불량|파손")
_EN_ORDER = re.compile(r"\b(my|mine|our)\s+(\w+\s+)?(order|orders|package|parcel|delivery|shipment|stuff|item|items|"
                       r"purchase|box|shoes|headphones|earbuds|jacket|coat|dress|clothes)\b|\bi\s+placed an order\b|"
                       r"\b(ordered|bought)\s+\d+\s+days?\b|\bi\s+(ordered|bought|purchased|paid)\b|\border\s+(status|number|#?\d)"
                       r"|\b(the|this|that)?\s*order\s+(still|is still|has not|hasn't|hasnt|never|not)\b")
_EN_STATUS = re.compile(r"\b(where|wheres|where's|status|arrive|arrived|arriving|shipped|coming|yet|when will|track it|"
                        r"tracking|track|update|updates|check|check on|on (its|it's|the) way|go out|gone out|sent out|"
                        r"dispatched|still|nothing|nothing came|never came|not come|hasnt come|hasn't come|not here|"
                        r"late|delayed|lost|received|receive|get it|left|sent|out for delivery|stuck|so long|news|"
                        r"happened|delivered|far along|expected delivery|havent|haven't|hasnt|hasn't|isnt here|"
                        r"isn't here|preparing)\b")
_EN_GENERAL = re.compile(r"\bhow (do|can|to|should)\b|\bwhere (do|can|should) i\b|\bif i\b|\bcancel|\breturn"
                         r"|\bexchange|\brefund|\baddress|"
                         r"\bwrong\b|\bseparately\b|\btwo boxes\b|\bunpaid\b|\bbank transfer\b|\bdeposit|\bdamaged\b"
                         r"|\bbroken\b|\bdifferent (size|colou?r|item|packages?|boxes)\b|\bseparate\b|\bhalf\b"
                         r"|\bthe rest\b|\bchange\b|\bupdate the\b|\bsmashed\b|\bcrack|\bwhere my order is going\b")
_ORDER_NUMBER = re.compile(r"(?:주문\s*번호|order\s*(?:no\.?|number|#)?)\s*[:#]?\s*([a-z0-9][a-z0-9-]{3,})", re.I)


def is_order_status(text: str) -> bool:
    """A question about the shopper's own order (where it is, when it comes), not about policy."""
    if not text:
        return False
    squeezed = re.sub(r"\s+", "", text)
    if (_KO_ORDER_NOUN.search(squeezed) and _KO_STATUS.search(squeezed)) or _KO_WHERE.search(squeezed):
        return _KO_GENERAL.search(squeezed) is None
    if _EN_ORDER.search(text) and _EN_STATUS.search(text):
        return not _EN_GENERAL.search(text)
    if order_number(text) and (_KO_STATUS.search(squeezed) or _EN_STATUS.search(text)):
        return not (_KO_GENERAL.search(squeezed) or _EN_GENERAL.search(text))
    return bool(re.search(r"\border status\b|\btrack my order\b", text) or re.search("주문조회|주문상태", squeezed))


def order_number(text: str) -> str | None:
    match = _ORDER_NUMBER.search(text)
    return match.group(1) if match else None


# --- product and service cues ------------------------------------------------------------------------
# Words that make a question about the shop's service (a policy, a process), not about a product, even
# when a product is named ("이어폰 고장났는데 AS 돼요?", "can I return opened skincare").
SERVICE_WORDS = frozenset({
    "~return", "~exchange", "~refund", "~cancel", "~defect", "~warranty", "~track", "~address", "~gift",
    "~coupon", "~points", "~pay", "~kakao", "~naver", "~toss", "~bank", "~installment", "~receipt", "~restock",
    "~account", "~password", "~delete", "~pickup", "~price_drop", "~cod", "~info", "~wrong", "~abroad",
    "~remote", "~dawn", "~split", "~store", "~support", "~tier", "~welcome", "~chart", "~ship", "~change", "~fit",
})
# Words that ask about a product: price, stock, sizes, similar items.
PRODUCT_CUES = frozenset({
    "얼마", "가격", "재고", "있", "남", "팔", "추천", "비슷", "비슷하", "다른", "사이즈", "색", "price", "cost",
    "stock", "available", "sell", "similar", "like", "recommend", "size", "much", "in", "have", "~size", "~fee",
    "뭐", "상품", "제품", "product", "item", "what", "종류",
})
# A gift set is a product ("한우 선물세트", "a gift box of tangerines"), not the gift-wrapping service.
GIFT_SET = re.compile(r"선물\s*세트|선물용|gift\s*(set|box)")
# Asking what a category holds ("식품은 뭐 있어요?", "what home items do you have"), on the normalised text.
CATEGORY_CUE = re.compile(r"뭐|무엇|어떤|종류|추천|있어|있나|있나요|팔아|파나요|판매"
                          r"|what|which|any|sell|have|products?|items?")


# --- out of scope ----------------------------------------------------------------------------------------
# Questions about the world rather than the shop (the weather, recipes, money, news, homework): a word in
# one of them matches some product or FAQ word often enough ("kimchi" stew, "rain" boots) to look answerable.
# They are declined unless the shop's own business is named too.
_OUT_OF_SCOPE = re.compile(
    r"날씨|비와|비가|비올|눈와|눈올|레시피|끓이는법|끓이는방법|만드는법|요리법|로또|주식|비트코인|코인|환율|영화|드라마|뉴스"
    r"|대통령|선거|정치|코딩|파이썬|숙제|농담|운세|연애|수도가|몇살|노래추천|맛집"
    r"|\b(weather|going to rain|raining|snowing|forecast|recipe|recipes|how to cook|lottery|lotto|stocks?|bitcoin"
    r"|crypto|exchange rate"
    r"|movie|movies|film|tv show|news|president|election|politics|python|javascript|coding|homework|joke|jokes"
    r"|horoscope|capital of|who won|the game|song|lyrics|girlfriend|boyfriend|restaurant|sunset|sunrise|taxi|uber"
    r"|flight|hotel|fried rice|how (do|to|can) (i|you) (cook|bake|fry|boil|make (kimchi|rice|soup|stew|pasta|bread)))\b"
    r"|티어|게임|롤\s|롤$"
)
_SHOP_BUSINESS = re.compile(
    r"주문|배송|택배|반품|교환|환불|결제|재고|가격|얼마|사이즈|쿠폰|적립|포인트|매장|구매|팔아|파나요|판매|있어요|있나요"
    r"|\b(order|ship|shipping|delivery|return|exchange|refund|pay|payment|stock|price|how much|size|coupon|points"
    r"|store|buy|sell|sells|have)\b"
)


def is_out_of_scope(text: str) -> bool:
    """A question about the world, not about the shop: the bot should not answer it with confidence."""
    if not text:
        return False
    squeezed = re.sub(r"\s+", "", text)
    return bool(_OUT_OF_SCOPE.search(text) or _OUT_OF_SCOPE.search(squeezed)) and not (
        _SHOP_BUSINESS.search(text) or _SHOP_BUSINESS.search(squeezed))
