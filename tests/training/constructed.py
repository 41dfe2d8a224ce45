"""A small constructed retrieval set where surface similarity points the wrong way.

Six techniques. Each has one *positive* demonstration that uses the technique on a different
topic, and one *distractor* that shares the queries' topic and wording but needs another idea.
Queries are generated from templates with varying numbers, and their gold answers are computed.
An off-the-shelf bi-encoder ranks the distractor first (same words); the labels say the positive
helps. Fine-tuning on some queries of every technique should move held-out queries of the same
techniques to their positive.
"""

from __future__ import annotations

import json
import random
from math import comb
from pathlib import Path

POSITIVES = [
    {"id": "pos-pigeonhole", "type": "Counting & Probability",
     "problem": "Show that among any 13 people, at least two were born in the same month. How many people are "
                "needed to guarantee this?",
     "solution": "Step 1: The 12 months are the boxes and the people are the objects. Step 2: By the pigeonhole "
                 "principle, 13 objects in 12 boxes force two into one box. Therefore, the final answer is "
                 "$\\boxed{13}$."},
    {"id": "pos-stars-bars", "type": "Counting & Probability",
     "problem": "How many ordered triples of nonnegative integers $(x, y, z)$ satisfy $x + y + z = 10$?",
     "solution": "Step 1: Write each solution as 10 stars separated by 2 bars. Step 2: Choose the bar positions "
                 "among 12 places: $\\binom{12}{2} = 66$. Therefore, the final answer is $\\boxed{66}$."},
    {"id": "pos-cyclic", "type": "Number Theory",
     "problem": "Today is Monday. What day of the week will it be 100 days from now?",
     "solution": "Step 1: Days repeat with period 7, so work modulo 7. Step 2: $100 \\equiv 2 \\pmod 7$, and two "
                 "days after Monday is Wednesday. Therefore, the final answer is $\\boxed{\\text{Wednesday}}$."},
    {"id": "pos-vieta", "type": "Algebra",
     "problem": "Two numbers have sum 10 and product 21. What is the sum of their squares?",
     "solution": "Step 1: Do not find the numbers; use symmetric functions. Step 2: $a^2 + b^2 = (a+b)^2 - 2ab = "
                 "100 - 42 = 58$. Therefore, the final answer is $\\boxed{58}$."},
    {"id": "pos-pythagoras", "type": "Geometry",
     "problem": "What is the distance between the points $(1, 2)$ and $(4, 6)$ in the plane?",
     "solution": "Step 1: The horizontal and vertical differences are the legs of a right triangle: 3 and 4. "
                 "Step 2: By the Pythagorean theorem the distance is $\\sqrt{3^2 + 4^2} = 5$. Therefore, the final "
                 "answer is $\\boxed{5}$."},
    {"id": "pos-complement", "type": "Counting & Probability",
     "problem": "A fair coin is flipped 5 times. What is the probability of getting at least one head?",
     "solution": "Step 1: Count the complement: no heads at all has probability $(1/2)^5 = 1/32$. Step 2: Subtract "
                 "from 1: $1 - 1/32 = 31/32$. Therefore, the final answer is $\\boxed{\\frac{31}{32}}$."},
]

DISTRACTORS = [
    {"id": "dis-socks", "type": "Counting & Probability",
     "problem": "A drawer holds 4 red socks and 6 blue socks. Two socks are drawn at random. What is the "
                "probability that the two socks drawn from the drawer have the same color?",
     "solution": "Step 1: Matching pairs: $\\binom{4}{2} + \\binom{6}{2} = 21$. Step 2: All pairs: $\\binom{10}{2} = "
                 "45$. Therefore, the final answer is $\\boxed{\\frac{7}{15}}$."},
    {"id": "dis-candies", "type": "Counting & Probability",
     "problem": "In how many ways can 5 different candies be given to 3 children so that every child gets at least "
                "one candy?",
     "solution": "Step 1: Inclusion-exclusion over the children left empty: $3^5 - 3 \\cdot 2^5 + 3 = 150$. "
                 "Therefore, the final answer is $\\boxed{150}$."},
    {"id": "dis-digits", "type": "Number Theory",
     "problem": "How many digits does the power $2^{100}$ have when written in base ten?",
     "solution": "Step 1: The digit count is $\\lfloor 100 \\log_{10} 2 \\rfloor + 1$. Step 2: $100 \\log_{10} 2 "
                 "\\approx 30.1$. Therefore, the final answer is $\\boxed{31}$."},
    {"id": "dis-quadratic", "type": "Algebra",
     "problem": "Solve the quadratic equation $x^2 - 5x + 6 = 0$ and give the larger root.",
     "solution": "Step 1: Factor: $(x-2)(x-3) = 0$. Step 2: The roots are 2 and 3. Therefore, the final answer "
                 "is $\\boxed{3}$."},
    {"id": "dis-ladder", "type": "Geometry",
     "problem": "A painter climbs a ladder leaning against a wall at 2 feet per second. How many seconds does it "
                "take to climb 12 feet of the ladder?",
     "solution": "Step 1: Time is distance over rate: $12 / 2 = 6$. Therefore, the final answer is $\\boxed{6}$."},
    {"id": "dis-multiples", "type": "Number Theory",
     "problem": "How many three-digit positive integers are divisible by 7?",
     "solution": "Step 1: Count multiples: $\\lfloor 999/7 \\rfloor - \\lfloor 99/7 \\rfloor = 142 - 14 = 128$. "
                 "Therefore, the final answer is $\\boxed{128}$."},
]

FILLER = [
    {"id": "fill-area", "type": "Geometry", "problem": "What is the area of a circle with radius 3?",
     "solution": "Step 1: $A = \\pi r^2 = 9\\pi$. Therefore, the final answer is $\\boxed{9\\pi}$."},
    {"id": "fill-lines", "type": "Algebra", "problem": "What is the slope of the line through $(0, 1)$ and $(2, 5)$?",
     "solution": "Step 1: Rise over run: $(5-1)/(2-0) = 2$. Therefore, the final answer is $\\boxed{2}$."},
    {"id": "fill-gcd", "type": "Number Theory", "problem": "What is the greatest common divisor of 84 and 126?",
     "solution": "Step 1: Euclid: $126 = 84 + 42$, $84 = 2 \\cdot 42$. Therefore, the final answer is $\\boxed{42}$."},
    {"id": "fill-mean", "type": "Prealgebra", "problem": "What is the mean of 3, 7 and 11?",
     "solution": "Step 1: $(3 + 7 + 11) / 3 = 7$. Therefore, the final answer is $\\boxed{7}$."},
]


def _queries(rng: random.Random, per_group: int) -> list[dict]:
    out: list[dict] = []

    def add(group: int, problem: str, answer, qtype: str) -> None:
        out.append({"id": f"q{group}-{sum(1 for q in out if q['group'] == group)}", "group": group,
                    "problem": problem, "answer": str(answer), "type": qtype})

    for i in range(per_group):
        c = rng.randint(2, 9)
        t = ["A drawer has socks of {c} different colors, many of each. How many socks must you take out in the dark "
             "to be sure that two of the socks have the same color?",
             "Socks in a drawer come in {c} colors. Without looking, how many socks must be drawn from the drawer to "
             "guarantee a matching pair of socks?"][i % 2]
        add(0, t.format(c=c), c + 1, "Counting & Probability")
    for i in range(per_group):
        n, k = rng.randint(4, 12), rng.randint(2, 5)
        t = ["In how many ways can {n} identical candies be given to {k} children, if a child may get no candy?",
             "{n} identical candies are shared among {k} children (some children may get none). How many ways can the "
             "candies be given?"][i % 2]
        add(1, t.format(n=n, k=k), comb(n + k - 1, k - 1), "Counting & Probability")
    for i in range(per_group):
        a, b = rng.choice([2, 3, 7, 8]), rng.randint(20, 99)
        cyc = {2: [2, 4, 8, 6], 3: [3, 9, 7, 1], 7: [7, 9, 3, 1], 8: [8, 4, 2, 6]}[a]
        t = ["What is the units digit of the power ${a}^{{{b}}}$ when written in base ten?",
             "Find the last digit of ${a}^{{{b}}}$ written in base ten."][i % 2]
        add(2, t.format(a=a, b=b), cyc[(b - 1) % 4], "Number Theory")
    for i in range(per_group):
        r, s = rng.randint(1, 6), rng.randint(1, 6)
        t = ["The quadratic equation $x^2 - {p}x + {q} = 0$ has roots $r$ and $s$. Find $r^2 + s^2$.",
             "Let $r$ and $s$ be the roots of the quadratic equation $x^2 - {p}x + {q} = 0$. What is $r^2 + s^2$?"][i % 2]
        add(3, t.format(p=r + s, q=r * s), (r + s) ** 2 - 2 * r * s, "Algebra")
    for i in range(per_group):
        a, b, c = rng.choice([(3, 4, 5), (6, 8, 10), (5, 12, 13), (8, 15, 17), (9, 12, 15)])
        t = ["A ladder {c} feet long leans against a wall with its foot {a} feet from the wall. How high up the wall "
             "does the ladder reach, in feet?",
             "The foot of a {c}-foot ladder leaning against a wall is {a} feet from the wall. How many feet up the wall "
             "is the top of the ladder?"][i % 2]
        add(4, t.format(a=a, c=c), b, "Geometry")
    for i in range(per_group):
        n = rng.randint(2, 4)
        t = ["How many {n}-digit positive integers have at least one digit equal to 7?",
             "Count the {n}-digit positive integers in which the digit 7 appears at least once."][i % 2]
        add(5, t.format(n=n), 9 * 10 ** (n - 1) - 8 * 9 ** (n - 1), "Counting & Probability")
    return out


def write_constructed(root: Path, per_group: int = 8, seed: int = 0) -> dict[str, Path]:
    """corpus.jsonl, queries.jsonl and labels.jsonl (positive 1, distractor 0) under `root`."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    corpus = POSITIVES + DISTRACTORS + FILLER
    queries = _queries(rng, per_group)
    paths = {"corpus": root / "corpus.jsonl", "queries": root / "queries.jsonl", "labels": root / "labels.jsonl"}
    paths["corpus"].write_text("".join(json.dumps(r) + "\n" for r in corpus))
    paths["queries"].write_text("".join(json.dumps(q) + "\n" for q in queries))
    labels = []
    for q in queries:
        labels.append({"query_id": q["id"], "demo_id": POSITIVES[q["group"]]["id"], "label": 1})
        labels.append({"query_id": q["id"], "demo_id": DISTRACTORS[q["group"]]["id"], "label": 0})
    paths["labels"].write_text("".join(json.dumps(r) + "\n" for r in labels))
    return paths
