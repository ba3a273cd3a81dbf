"""A small labelled routing set written for these tests and the selector benchmark.

Five knowledge bases (documents + a tool description), a few example queries per base to train
on, and held-out labelled queries to measure on. Test queries share few words with the
descriptions on purpose: matching descriptions alone is not enough.
"""

from __future__ import annotations

__all__ = ["DESCRIPTIONS", "DOCUMENTS", "EXAMPLES", "LABELLED_QUERIES", "NAMES"]

DESCRIPTIONS: dict[str, str] = {
    "astronomy": "Answers questions about planets, stars, galaxies and space missions.",
    "cooking": "Answers questions about recipes, baking, ingredients and kitchen techniques.",
    "finance": "Summarises guidance on budgeting, saving, taxes and investing money.",
    "gardening": "Answers questions about growing plants, vegetables, soil and garden pests.",
    "travel": "Answers questions about trip planning, visas, flights, hotels and luggage.",
}
NAMES: tuple[str, ...] = tuple(DESCRIPTIONS)

DOCUMENTS: dict[str, list[str]] = {
    "astronomy": [
        "Mars is the fourth planet from the Sun. Its red colour comes from iron oxide dust. "
        "Olympus Mons on Mars is the tallest volcano in the solar system.",
        "A light-year is the distance light travels in one year, about 9.46 trillion km. "
        "The nearest star to the Sun, Proxima Centauri, is 4.24 light-years away.",
        "The James Webb Space Telescope observes in infrared from the L2 point, "
        "1.5 million km from Earth, behind a five-layer sunshield.",
    ],
    "cooking": [
        "Sourdough bread rises with a starter of wild yeast and lactic acid bacteria. "
        "Feed the starter flour and water daily; bake when it doubles within six hours.",
        "To caramelise onions, cook them slowly over low heat for 40 minutes with butter "
        "and a pinch of salt, stirring every few minutes.",
        "Risotto uses short-grain rice such as arborio; add warm stock one ladle at a time "
        "and stir so the starch makes it creamy.",
    ],
    "finance": [
        "The 50/30/20 budget puts 50% of take-home pay on needs, 30% on wants and 20% on "
        "saving or paying down debt.",
        "An emergency fund should cover three to six months of essential expenses and sit "
        "in an easy-access savings account.",
        "Index funds track a market index at low fees; diversification lowers the risk of "
        "any single company failing. Capital gains may be taxed when you sell.",
    ],
    "gardening": [
        "Tomatoes need six to eight hours of sun, deep watering twice a week and a stake or "
        "cage. Pinch out side shoots on cordon varieties.",
        "Aphids can be washed off with a strong jet of water or controlled by ladybirds; "
        "slugs are deterred by copper tape and beer traps.",
        "Compost improves soil structure; mix green waste like grass clippings with brown "
        "waste like dry leaves and turn the heap monthly.",
    ],
    "travel": [
        "Many countries let visitors stay 90 days without a visa; check the embassy site "
        "and make sure your passport is valid for six months after arrival.",
        "Carry-on bags are usually limited to 55 x 40 x 20 cm and liquids to 100 ml "
        "containers in a clear one-litre bag.",
        "Booking flights six to eight weeks ahead is often cheapest; flexible dates and "
        "nearby airports widen the search.",
    ],
}

EXAMPLES: dict[str, list[str]] = {
    "astronomy": [
        "How far away is the closest star?",
        "Why is Mars red?",
        "What does the Webb telescope look at?",
        "How many moons does Jupiter have?",
        "What is a black hole?",
    ],
    "cooking": [
        "How do I make a sourdough starter?",
        "How long should I cook onions to caramelise them?",
        "Which rice is best for risotto?",
        "What temperature should I roast a chicken at?",
        "How do I stop my pasta sticking together?",
    ],
    "finance": [
        "How should I split my monthly salary?",
        "How big should my emergency fund be?",
        "Are index funds a good investment?",
        "How do I pay off my credit card debt faster?",
        "Do I owe tax when I sell shares?",
    ],
    "gardening": [
        "How often should I water tomato plants?",
        "How do I get rid of aphids on my roses?",
        "How do I start a compost heap?",
        "When should I plant potatoes?",
        "Why are my lettuce leaves turning yellow?",
    ],
    "travel": [
        "Do I need a visa to visit Japan?",
        "What size can my cabin bag be?",
        "When is the cheapest time to book flights?",
        "How early should I get to the airport?",
        "Can I bring shampoo in my hand luggage?",
    ],
}

LABELLED_QUERIES: list[tuple[str, str]] = [
    ("What is the tallest volcano on another world?", "astronomy"),
    ("How long does light take to reach us from Proxima Centauri?", "astronomy"),
    ("Where is the new infrared observatory parked?", "astronomy"),
    ("Is Saturn less dense than water?", "astronomy"),
    ("What causes a solar eclipse?", "astronomy"),
    ("How hot is the surface of the Sun?", "astronomy"),
    ("How often do I feed my starter?", "cooking"),
    ("What makes a creamy risotto?", "cooking"),
    ("How do I brown onions slowly without burning them?", "cooking"),
    ("Can I substitute butter with oil in a cake?", "cooking"),
    ("How long do I boil an egg for a runny yolk?", "cooking"),
    ("What herbs go well with lamb?", "cooking"),
    ("What share of my paycheck should go to savings?", "finance"),
    ("How many months of expenses should I keep aside?", "finance"),
    ("Why are low-fee trackers recommended for retirement?", "finance"),
    ("Should I pay off my student loan or invest?", "finance"),
    ("What is compound interest?", "finance"),
    ("How do I build a monthly spending plan?", "finance"),
    ("How many hours of sun do tomatoes need?", "gardening"),
    ("What keeps slugs off my seedlings?", "gardening"),
    ("What should I put in my compost bin?", "gardening"),
    ("When do I prune apple trees?", "gardening"),
    ("How deep should I sow carrot seeds?", "gardening"),
    ("Why is my lawn full of moss?", "gardening"),
    ("How long can I stay abroad without a visa?", "travel"),
    ("How much liquid can I take through airport security?", "travel"),
    ("How far ahead should I book a plane ticket?", "travel"),
    ("Does my passport need to be valid after my trip?", "travel"),
    ("Is travel insurance worth buying?", "travel"),
    ("What should I pack for a week in Iceland?", "travel"),
]
