"""A labelled set for choosing an agent's model: four experts, their one-sentence criteria, a few
examples each, and held-out plain questions (for the decision model, descriptions and the benchmark).

The questions were written as a user would type them, not from the criteria: most share no
word with their expert's description.
"""

from __future__ import annotations

__all__ = ["CRITERIA", "EXAMPLES", "LABELLED", "LABELS"]

#: Expert → its one-sentence description (the ``criteria`` of a LangChain ``Choice``).
CRITERIA: dict[str, str] = {
    "general": "Everyday questions, general knowledge, advice and small talk.",
    "math": "Arithmetic, algebra, calculus, probability and other mathematics problems.",
    "code": "Programming: writing, explaining and debugging code in any language.",
    "writing": "Creative writing and editing: stories, poems, emails and essays.",
}
LABELS: tuple[str, ...] = tuple(CRITERIA)

#: A few example requests per expert, for training (disjoint from `LABELLED`).
EXAMPLES: dict[str, list[str]] = {
    "general": [
        "what is the capital of Australia",
        "how do I get a red wine stain out of a carpet",
        "why is the sky blue",
        "any tips for sleeping better",
    ],
    "math": [
        "what is 15% of 240",
        "solve 3x + 7 = 22",
        "what is the derivative of x^3",
        "what are the odds of rolling two sixes",
    ],
    "code": [
        "write a python function that reverses a string",
        "why does my javascript say undefined is not a function",
        "how do I read a csv file in pandas",
        "fix this SQL query that returns duplicate rows",
    ],
    "writing": [
        "write a short poem about the sea",
        "make this email to my landlord sound more polite",
        "give me an opening line for a mystery novel",
        "proofread my cover letter",
    ],
}

#: Held-out labelled questions: (question, the expert that should answer it).
LABELLED: list[tuple[str, str]] = [
    ("who painted the Mona Lisa", "general"),
    ("how long should I boil an egg", "general"),
    ("what's a good gift for my dad's birthday", "general"),
    ("is it safe to leave my phone charging overnight", "general"),
    ("why do cats purr", "general"),
    ("what time zone is Chicago in", "general"),
    ("how can I stop procrastinating", "general"),
    ("which is bigger, a lion or a tiger", "general"),
    ("how do vaccines work", "general"),
    ("what should I see in Rome in two days", "general"),
    ("what is 12 times 7", "math"),
    ("integrate sin(x) from 0 to pi", "math"),
    ("how many ways can 5 people sit in a row", "math"),
    ("is 221 a prime number", "math"),
    ("find the area of a circle with radius 4", "math"),
    ("what is the square root of 1764", "math"),
    ("if I flip a coin 3 times what is the chance of exactly two heads", "math"),
    ("simplify (x^2 - 9)/(x - 3)", "math"),
    ("convert 0.375 to a fraction", "math"),
    ("what is the sum of the first 100 integers", "math"),
    ("how do I sort a list of dicts by a key in python", "code"),
    ("my React component re-renders forever, what am I doing wrong", "code"),
    ("write a bash script that renames all .txt files", "code"),
    ("what does a segmentation fault mean in C", "code"),
    ("how do I undo my last git commit", "code"),
    ("explain what a closure is in JavaScript", "code"),
    ("write a regex that matches an email address", "code"),
    ("why is my docker container exiting immediately", "code"),
    ("how do I make an HTTP request in Go", "code"),
    ("implement binary search in java", "code"),
    ("write a haiku about autumn leaves", "writing"),
    ("help me write a toast for my sister's wedding", "writing"),
    ("rewrite this paragraph so it flows better", "writing"),
    ("write a bedtime story about a dragon who is afraid of the dark", "writing"),
    ("draft a resignation letter that stays on good terms", "writing"),
    ("suggest a catchy title for my blog post about hiking", "writing"),
    ("turn these notes into a persuasive essay intro", "writing"),
    ("write a limerick about a cat who loves cheese", "writing"),
    ("make my LinkedIn summary sound more professional", "writing"),
    ("write song lyrics about a summer road trip", "writing"),
]
