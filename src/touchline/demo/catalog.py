"""The demo shop's fixed world: a bilingual (Korean / English) catalog with KRW prices, physical stores,
people's names, cities, search terms, chat lines and device profiles.

Everything here is deterministic and independent of the demo seed: every demo run sells the same
products in the same stores; the seed only changes the customers and what they do.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

SHOP_NAME = "하루마켓"
SHOP_NAME_EN = "Haru Market"
# `.example` is reserved (RFC 2606): demo links and e-mail addresses can never reach a real party.
SHOP_URL = "https://www.haru-market.example"
CDN_URL = "https://cdn.haru-market.example"
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
CURRENCY = "KRW"
MIN_PRICE = 9_900
MAX_PRICE = 1_290_000


@dataclass(frozen=True, slots=True)
class Category:
    slug: str
    code: str
    name: str  # Korean, the shop's canonical language
    name_en: str


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    sku: str
    name: str
    name_en: str
    category: Category
    brand: str
    brand_en: str
    variant: str
    price: int  # KRW, VAT included, whole won
    popularity: float
    # Segment e-commerce properties, built once: events copy them instead of rebuilding them.
    props: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    line: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def url(self) -> str:
        return f"{SHOP_URL}/products/{self.product_id}"


@dataclass(frozen=True, slots=True)
class Store:
    store_id: str
    name: str
    name_en: str
    city: str  # matches City.name
    district: str


@dataclass(frozen=True, slots=True)
class City:
    name: str
    name_en: str
    districts: tuple[str, ...]
    weight: float


CATEGORIES: tuple[Category, ...] = (
    Category("fashion", "FSH", "패션", "Fashion"),
    Category("beauty", "BTY", "뷰티", "Beauty"),
    Category("food", "FOD", "식품", "Food"),
    Category("electronics", "ELC", "가전", "Electronics"),
    Category("home", "HOM", "리빙", "Home"),
    Category("sports", "SPT", "스포츠/레저", "Sports & Outdoors"),
    Category("kids", "KID", "유아동", "Kids"),
)
CATEGORY_BY_SLUG = {c.slug: c for c in CATEGORIES}

# (Korean, English, lowest price, highest price) per product type.
_TYPES: dict[str, tuple[tuple[str, str, int, int], ...]] = {
    "fashion": (
        ("오버핏 코튼 티셔츠", "Oversized Cotton T-Shirt", 19_900, 39_900),
        ("와이드 데님 팬츠", "Wide-Leg Denim Pants", 39_900, 79_000),
        ("캐시미어 블렌드 니트", "Cashmere Blend Knit", 59_000, 159_000),
        ("경량 패딩 점퍼", "Lightweight Padded Jacket", 79_000, 189_000),
        ("롱 울 코트", "Long Wool Coat", 189_000, 459_000),
        ("플리츠 미디 스커트", "Pleated Midi Skirt", 35_900, 69_000),
        ("레더 크로스백", "Leather Crossbody Bag", 89_000, 259_000),
        ("데일리 스니커즈", "Everyday Sneakers", 59_000, 139_000),
        ("린넨 셔츠 원피스", "Linen Shirt Dress", 49_900, 99_000),
        ("양말 5족 세트", "Socks, Pack of 5", 9_900, 15_900),
    ),
    "beauty": (
        ("수분 진정 토너", "Hydrating Calming Toner", 15_900, 32_000),
        ("비타민C 브라이트닝 세럼", "Vitamin C Brightening Serum", 25_900, 58_000),
        ("데일리 선크림 SPF50+", "Daily Sunscreen SPF50+", 12_900, 29_900),
        ("쿠션 파운데이션", "Cushion Foundation", 28_000, 52_000),
        ("벨벳 립 틴트", "Velvet Lip Tint", 9_900, 19_000),
        ("한방 영양 크림", "Herbal Nourishing Cream", 45_000, 180_000),
        ("약산성 클렌징폼", "Low-pH Cleansing Foam", 9_900, 18_900),
        ("시카 리페어 마스크팩 10매", "Cica Repair Sheet Masks (10)", 12_000, 25_000),
        ("헤어 에센스 오일", "Hair Essence Oil", 14_900, 32_000),
        ("향수 오 드 퍼퓸 50ml", "Eau de Parfum 50ml", 69_000, 169_000),
    ),
    "food": (
        ("제주 감귤 5kg", "Jeju Tangerines 5kg", 19_900, 32_900),
        ("한우 1++ 등심 500g", "Hanwoo 1++ Sirloin 500g", 89_000, 129_000),
        ("유기농 현미 누룽지", "Organic Brown Rice Nurungji", 9_900, 14_900),
        ("포기김치 3kg", "Whole Cabbage Kimchi 3kg", 24_900, 39_900),
        ("성주 꿀참외 3kg", "Seongju Honey Melons 3kg", 22_900, 35_900),
        ("프리미엄 견과 30봉", "Premium Mixed Nuts (30 packs)", 19_900, 34_900),
        ("콜드브루 원액 1L", "Cold Brew Concentrate 1L", 15_900, 27_900),
        ("홍삼정 스틱 30포", "Red Ginseng Sticks (30)", 49_000, 129_000),
        ("손질 전복 1kg", "Cleaned Abalone 1kg", 59_000, 89_000),
        ("떡볶이 밀키트 2인분", "Tteokbokki Meal Kit for Two", 9_900, 16_900),
    ),
    "electronics": (
        ("무선 노이즈캔슬링 헤드폰", "Wireless Noise-Cancelling Headphones", 199_000, 459_000),
        ("블루투스 무선 이어폰", "Bluetooth Wireless Earbuds", 59_000, 259_000),
        ("에어프라이어 5.5L", "Air Fryer 5.5L", 69_000, 159_000),
        ("로봇청소기", "Robot Vacuum Cleaner", 390_000, 1_290_000),
        ("27인치 4K 모니터", "27-inch 4K Monitor", 290_000, 690_000),
        ("스마트워치", "Smartwatch", 190_000, 490_000),
        ("전기포트 1.7L", "Electric Kettle 1.7L", 19_900, 59_000),
        ("휴대용 선풍기", "Handheld Fan", 9_900, 29_900),
        ("공기청정기", "Air Purifier", 189_000, 790_000),
        ("65인치 QLED TV", "65-inch QLED TV", 1_090_000, 1_290_000),
    ),
    "home": (
        ("호텔식 구스 이불", "Hotel-Style Goose Down Duvet", 129_000, 329_000),
        ("메모리폼 베개", "Memory Foam Pillow", 29_900, 69_000),
        ("원목 수납 선반", "Solid Wood Storage Shelf", 59_000, 189_000),
        ("무드 조명 스탠드", "Mood Lamp", 29_900, 79_000),
        ("스테인리스 냄비 3종 세트", "Stainless Pot Set (3 pcs)", 79_000, 199_000),
        ("극세사 수건 10장", "Microfibre Towels (10)", 19_900, 39_900),
        ("디퓨저 200ml", "Reed Diffuser 200ml", 15_900, 39_000),
        ("암막 커튼", "Blackout Curtains", 35_900, 89_000),
        ("도자기 식기 세트", "Ceramic Tableware Set", 49_000, 159_000),
    ),
    "sports": (
        ("요가 매트 8mm", "Yoga Mat 8mm", 19_900, 49_000),
        ("러닝화", "Running Shoes", 79_000, 189_000),
        ("캠핑 릴렉스 체어", "Camping Relax Chair", 39_900, 129_000),
        ("등산 바람막이", "Hiking Windbreaker", 69_000, 189_000),
        ("폼롤러", "Foam Roller", 12_900, 29_900),
        ("4인용 원터치 텐트", "4-Person Pop-Up Tent", 129_000, 390_000),
        ("스마트 줄넘기", "Smart Jump Rope", 9_900, 25_900),
        ("골프 장갑", "Golf Glove", 15_900, 35_000),
    ),
    "kids": (
        ("유기농 아기 물티슈 10팩", "Organic Baby Wipes (10 packs)", 14_900, 24_900),
        ("원목 블록 장난감", "Wooden Building Blocks", 29_900, 69_000),
        ("아동 경량 패딩", "Kids' Light Padded Jacket", 49_000, 99_000),
        ("휴대용 유모차", "Compact Stroller", 290_000, 690_000),
        ("그림책 전집 20권", "Picture Book Collection (20)", 89_000, 189_000),
        ("아기 스킨케어 세트", "Baby Skincare Set", 29_900, 59_000),
        ("어린이 킥보드", "Kids' Kick Scooter", 59_000, 129_000),
    ),
}

# Fictional brands (Korean, English); premium factor moves a product within its type's price range.
_BRANDS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "fashion": (("무드앤코", "Mood&Co", 0.5), ("어반핏", "UrbanFit", 0.3), ("데일리모노", "Daily Mono", 0.1),
                ("소소한옷장", "Soso Closet", 0.0), ("메종서울", "Maison Seoul", 0.9)),
    "beauty": (("청담랩", "Cheongdam Lab", 0.7), ("숲결", "Soopgyeol", 0.4), ("달빛한방", "Dalbit Hanbang", 0.9),
               ("클린데이", "CleanDay", 0.1)),
    "food": (("제주농장", "Jeju Farm", 0.4), ("바른식탁", "Bareun Table", 0.2), ("한우명가", "Hanwoo House", 0.9),
             ("오늘의간식", "Today's Snack", 0.0)),
    "electronics": (("누리텍", "NuriTech", 0.5), ("한빛전자", "Hanbit Electronics", 0.8), ("소리결", "Sorigyeol", 0.6),
                    ("에코홈", "EcoHome", 0.1)),
    "home": (("온기리빙", "Ongi Living", 0.5), ("나무결", "Namugyeol", 0.7), ("코지룸", "Cozy Room", 0.1)),
    "sports": (("런업", "RunUp", 0.5), ("캠프원", "CampOne", 0.6), ("요가숲", "Yoga Forest", 0.2)),
    "kids": (("아이꿈", "Aikkum", 0.6), ("꼬마곰", "Little Bear", 0.2)),
}

_VARIANTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "fashion": (("블랙", "Black", "BK"), ("아이보리", "Ivory", "IV"), ("네이비", "Navy", "NV"),
                ("베이지", "Beige", "BE"), ("차콜", "Charcoal", "CH")),
    "beauty": (("", "", "STD"), ("대용량", "Large", "LG"), ("기획세트", "Gift Set", "SET")),
    "food": (("", "", "STD"), ("선물세트", "Gift Box", "GFT")),
    "electronics": (("화이트", "White", "WH"), ("블랙", "Black", "BK"), ("실버", "Silver", "SV")),
    "home": (("화이트", "White", "WH"), ("그레이", "Grey", "GY"), ("내추럴", "Natural", "NT")),
    "sports": (("블랙", "Black", "BK"), ("카키", "Khaki", "KH"), ("블루", "Blue", "BL")),
    "kids": (("", "", "STD"), ("기획세트", "Special Bundle", "SET")),
}


def price_point(value: float) -> int:
    """A price as a Korean shop would write it: 29,900원, 129,000원, 1,290,000원."""
    if value < 100_000:
        price = round(value / 1_000) * 1_000 - 100
    elif value < 1_000_000:
        price = round(value / 10_000) * 10_000 - 1_000
    else:
        price = round(value / 100_000) * 100_000 - 10_000
    return max(MIN_PRICE, min(MAX_PRICE, int(price)))


def _product_props(p: Product) -> dict[str, Any]:
    return {
        "product_id": p.product_id, "sku": p.sku, "name": p.name, "name_en": p.name_en,
        "category": p.category.name, "category_en": p.category.name_en, "brand": p.brand,
        "variant": p.variant or None, "price": p.price, "currency": CURRENCY, "url": p.url,
        "image_url": f"{CDN_URL}/p/{p.product_id}.jpg",
    }


@lru_cache(maxsize=1)
def build_catalog() -> tuple[Product, ...]:
    """About 300 products. Built with its own fixed random generator, so ids never change."""
    rng = random.Random(20_240_901)
    products: list[Product] = []
    serial = 10_000
    for category in CATEGORIES:
        brands, variants = _BRANDS[category.slug], _VARIANTS[category.slug]
        n_in_category = 0
        for type_ko, type_en, lo, hi in _TYPES[category.slug]:
            for b_ko, b_en, premium in rng.sample(brands, k=min(len(brands), rng.choice((2, 3, 3)))):
                # A brand's take on a type, in one or two colours or sizes (same price, as shops do).
                price = price_point(lo + (hi - lo) * min(1.0, max(0.0, premium + rng.uniform(-0.15, 0.15))))
                for v_ko, v_en, v_code in rng.sample(variants, k=rng.choice((1, 2, 2))):
                    serial += 1
                    n_in_category += 1
                    product = Product(
                        product_id=f"P{serial}",
                        sku=f"{category.code}-{n_in_category:04d}-{v_code}",
                        name=f"{b_ko} {type_ko}" + (f" {v_ko}" if v_ko else ""),
                        name_en=f"{b_en} {type_en}" + (f", {v_en}" if v_en else ""),
                        category=category, brand=b_ko, brand_en=b_en, variant=v_ko, price=price,
                        # Long tail: a few best sellers, many slow movers.
                        popularity=rng.paretovariate(1.4),
                    )
                    product.props.update(_product_props(product))
                    product.line.update({k: product.props[k] for k in
                                         ("product_id", "sku", "name", "category", "brand", "variant", "price")})
                    products.append(product)
    return tuple(products)


def products_by_category() -> dict[str, tuple[Product, ...]]:
    out: dict[str, list[Product]] = {c.slug: [] for c in CATEGORIES}
    for p in build_catalog():
        out[p.category.slug].append(p)
    return {k: tuple(v) for k, v in out.items()}


# --- physical stores and where people live ------------------------------------------------------------

CITIES: tuple[City, ...] = (
    City("서울특별시", "Seoul",
         ("강남구", "마포구", "송파구", "서초구", "영등포구", "성동구", "노원구", "관악구", "용산구"), 38),
    City("경기도 성남시", "Seongnam", ("분당구", "수정구"), 7),
    City("경기도 수원시", "Suwon", ("영통구", "팔달구"), 6),
    City("경기도 고양시", "Goyang", ("일산동구", "덕양구"), 5),
    City("인천광역시", "Incheon", ("연수구", "남동구", "부평구"), 6),
    City("부산광역시", "Busan", ("해운대구", "부산진구", "수영구"), 12),
    City("대구광역시", "Daegu", ("수성구", "중구"), 8),
    City("대전광역시", "Daejeon", ("유성구", "서구"), 6),
    City("광주광역시", "Gwangju", ("서구", "북구"), 6),
    City("제주특별자치도", "Jeju", ("제주시", "서귀포시"), 3),
)

STORES: tuple[Store, ...] = (
    Store("ST001", "하루마켓 강남점", "Haru Market Gangnam", "서울특별시", "강남구"),
    Store("ST002", "하루마켓 홍대점", "Haru Market Hongdae", "서울특별시", "마포구"),
    Store("ST003", "하루마켓 잠실점", "Haru Market Jamsil", "서울특별시", "송파구"),
    Store("ST004", "하루마켓 성수점", "Haru Market Seongsu", "서울특별시", "성동구"),
    Store("ST005", "하루마켓 판교점", "Haru Market Pangyo", "경기도 성남시", "분당구"),
    Store("ST006", "하루마켓 수원점", "Haru Market Suwon", "경기도 수원시", "팔달구"),
    Store("ST007", "하루마켓 부산 서면점", "Haru Market Busan Seomyeon", "부산광역시", "부산진구"),
    Store("ST008", "하루마켓 대구 동성로점", "Haru Market Daegu Dongseongno", "대구광역시", "중구"),
    Store("ST009", "하루마켓 대전 둔산점", "Haru Market Daejeon Dunsan", "대전광역시", "서구"),
    Store("ST010", "하루마켓 광주 충장로점", "Haru Market Gwangju Chungjangno", "광주광역시", "북구"),
)


# The store that opens as the demo's journeys start (the geofence journey welcomes people who come
# near it). Not in STORES: the generated history predates it.
NEW_STORE = Store("ST011", "하루마켓 여의도점", "Haru Market Yeouido", "서울특별시", "영등포구")
NEW_STORE_LAT, NEW_STORE_LON = 37.5252, 126.9250  # by the IFC mall
NEW_STORE_RADIUS_M = 800.0

# Rough centre (latitude, longitude) of each city, for location fixes of people who live there.
CITY_CENTRES: dict[str, tuple[float, float]] = {
    "서울특별시": (37.5540, 126.9900), "경기도 성남시": (37.4200, 127.1260), "경기도 수원시": (37.2636, 127.0286),
    "경기도 고양시": (37.6584, 126.8320), "인천광역시": (37.4563, 126.7052), "부산광역시": (35.1796, 129.0756),
    "대구광역시": (35.8714, 128.6014), "대전광역시": (36.3504, 127.3845), "광주광역시": (35.1595, 126.8526),
    "제주특별자치도": (33.4996, 126.5312),
}


def stores_near(city: str) -> tuple[Store, ...]:
    """The stores in a customer's city; people elsewhere go to a Seoul store when they travel."""
    here = tuple(s for s in STORES if s.city == city)
    return here or tuple(s for s in STORES if s.city == "서울특별시")


# --- people -------------------------------------------------------------------------------------------

# (Korean, romanised, weight): the twenty most common family names, weighted roughly by population.
FAMILY_NAMES: tuple[tuple[str, str, float], ...] = (
    ("김", "kim", 21.5), ("이", "lee", 14.7), ("박", "park", 8.4), ("최", "choi", 4.7), ("정", "jung", 4.3),
    ("강", "kang", 2.4), ("조", "cho", 2.1), ("윤", "yoon", 2.1), ("장", "jang", 2.0), ("임", "lim", 1.7),
    ("한", "han", 1.5), ("오", "oh", 1.5), ("서", "seo", 1.5), ("신", "shin", 1.4), ("권", "kwon", 1.4),
    ("황", "hwang", 1.4), ("안", "ahn", 1.3), ("송", "song", 1.3), ("전", "jeon", 1.3), ("홍", "hong", 1.1),
)
GIVEN_NAMES: tuple[tuple[str, str], ...] = (
    ("민준", "minjun"), ("서준", "seojun"), ("도윤", "doyun"), ("예준", "yejun"), ("시우", "siwoo"),
    ("하준", "hajun"), ("지호", "jiho"), ("주원", "juwon"), ("지훈", "jihoon"), ("현우", "hyunwoo"),
    ("준서", "junseo"), ("건우", "gunwoo"), ("우진", "woojin"), ("성민", "sungmin"), ("동현", "donghyun"),
    ("서연", "seoyeon"), ("서윤", "seoyun"), ("지우", "jiwoo"), ("하윤", "hayun"), ("민서", "minseo"),
    ("하은", "haeun"), ("지유", "jiyu"), ("윤서", "yunseo"), ("채원", "chaewon"), ("지민", "jimin"),
    ("수아", "sua"), ("지아", "jia"), ("예은", "yeeun"), ("수빈", "subin"), ("민지", "minji"),
    ("은지", "eunji"), ("유진", "yujin"), ("혜진", "hyejin"), ("소영", "soyoung"), ("정훈", "junghoon"),
    ("상철", "sangcheol"), ("미경", "mikyung"), ("경수", "kyungsoo"), ("은영", "eunyoung"), ("영호", "youngho"),
)
EN_FIRST_NAMES: tuple[str, ...] = (
    "Emma", "Olivia", "Liam", "Noah", "James", "Sophia", "Daniel", "Grace", "Michael", "Emily", "David",
    "Sarah", "Chris", "Jessica", "Ryan", "Hannah", "Lucas", "Mia", "Ethan", "Chloe",
)
EN_LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Brown", "Lee", "Park", "Kim", "Miller", "Davis", "Wilson", "Taylor", "Anderson",
    "Thomas", "Martin", "Clark", "Lewis", "Walker", "Young", "Hall",
)

# --- what people type and say -------------------------------------------------------------------------

SEARCH_TERMS: dict[str, tuple[tuple[str, str], ...]] = {
    "fashion": (("오버핏 티셔츠", "oversized t-shirt"), ("와이드 팬츠", "wide pants"), ("패딩", "padded jacket"),
                ("크로스백", "crossbody bag"), ("원피스", "dress")),
    "beauty": (("선크림", "sunscreen"), ("비타민 세럼", "vitamin c serum"), ("쿠션", "cushion foundation"),
               ("립틴트", "lip tint"), ("마스크팩", "sheet mask")),
    "food": (("감귤", "tangerines"), ("한우 선물세트", "hanwoo gift set"), ("김치", "kimchi"),
             ("밀키트", "meal kit"), ("홍삼", "red ginseng")),
    "electronics": (("무선 이어폰", "wireless earbuds"), ("에어프라이어", "air fryer"), ("로봇청소기", "robot vacuum"),
                    ("모니터", "monitor"), ("공기청정기", "air purifier")),
    "home": (("구스 이불", "down duvet"), ("베개", "pillow"), ("수납 선반", "storage shelf"), ("디퓨저", "diffuser")),
    "sports": (("요가매트", "yoga mat"), ("러닝화", "running shoes"), ("캠핑의자", "camping chair"),
               ("텐트", "tent")),
    "kids": (("물티슈", "baby wipes"), ("원목 장난감", "wooden toys"), ("유모차", "stroller"),
             ("그림책", "picture books")),
}

# Chat lines by topic: (Korean, English).
CHAT_LINES: dict[str, tuple[tuple[str, str], ...]] = {
    "order_status": (
        ("주문한 상품 언제 도착하나요?", "When will my order arrive?"),
        ("배송 조회가 안 돼요. 확인 부탁드려요.", "I can't track my delivery, could you check?"),
        ("오늘 출발하나요?", "Will it ship today?"),
        ("주문번호 알려드릴게요.", "Here is my order number."),
    ),
    "return": (
        ("사이즈가 안 맞아서 교환하고 싶어요.", "The size doesn't fit, I'd like an exchange."),
        ("반품 접수는 어떻게 하나요?", "How do I return an item?"),
        ("환불은 언제 들어오나요?", "When will I get my refund?"),
        ("포장이 파손되어 왔어요.", "The package arrived damaged."),
    ),
    "product_question": (
        ("이 제품 민감성 피부에도 괜찮나요?", "Is this OK for sensitive skin?"),
        ("재입고 예정이 있나요?", "Will this be restocked?"),
        ("매장에서도 구매할 수 있나요?", "Can I buy this in a store too?"),
        ("사이즈 추천 부탁드려요.", "Could you recommend a size?"),
    ),
    "coupon": (
        ("첫 구매 쿠폰은 어디서 받나요?", "Where do I get the first-order coupon?"),
        ("적립금 사용이 안 돼요.", "I can't use my points."),
        ("회원 등급 혜택이 궁금해요.", "What are the membership tier benefits?"),
    ),
}

CAMPAIGNS: tuple[tuple[str, str, str], ...] = (
    # (source, medium, campaign name)
    ("naver", "cpc", "brand_search"),
    ("naver", "shopping", "naver_shopping"),
    ("kakao", "social", "kakao_channel_weekly"),
    ("instagram", "social", "reels_new_arrivals"),
    ("google", "cpc", "generic_search"),
    ("youtube", "video", "haul_review"),
    ("newsletter", "email", "weekly_picks"),
)

PAYMENT_METHODS: tuple[tuple[str, float], ...] = (
    ("card", 40), ("kakaopay", 22), ("naverpay", 18), ("tosspay", 10), ("bank_transfer", 6), ("mobile", 4),
)

# --- devices ------------------------------------------------------------------------------------------

DESKTOP_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Whale/3.27.254.15 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
)
MOBILE_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Linux; Android 14; SM-S921N) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.71 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A536N) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "NAVER(inapp; search; 2000; 12.6.2) Mobile/15E148",
)
# (manufacturer, model, os version) per platform.
ANDROID_MODELS: tuple[tuple[str, str, str], ...] = (
    ("samsung", "SM-S921N", "14"), ("samsung", "SM-S918N", "14"), ("samsung", "SM-A536N", "13"),
    ("samsung", "SM-F946N", "14"), ("Google", "Pixel 8", "14"), ("LGE", "LM-V500N", "12"),
)
IOS_MODELS: tuple[tuple[str, str, str], ...] = (
    ("Apple", "iPhone15,2", "17.5.1"), ("Apple", "iPhone16,1", "17.5.1"), ("Apple", "iPhone14,5", "17.4"),
    ("Apple", "iPhone13,2", "16.7.8"),
)
APP_VERSION = ("3.12.0", "31200")
