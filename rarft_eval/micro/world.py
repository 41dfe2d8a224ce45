"""The micro world: procedurally generated word problems where *which* solved example helps is not
what the text looks like.

A problem is a *procedure* (a hidden multi-step computation on three small integers) told through a
*surface story* (a wording template, a person, a job, a place, an object). The two are drawn
independently, so two problems that share a story share most of their words and usually not their
procedure. The only trace of the procedure in the text is the name of the rule it applies ("the
velk rule"), one word among many; what the rule does is written out only in a solution trace:

    In Dunmere, Mira the baker counts 7 pears. Then the velk rule is applied with 4 and 3.
    What number does Mira end with?
    The velk rule multiplies the start by the first number, then adds the second number.
    Step 1: 7 * 4 = 28.
    Step 2: 28 + 3 = 31.
    The answer is \\boxed{31}.

So a demonstration of the same procedure shows how to solve the query; a demonstration with the
same story does not. The procedure id is stored with each row (`procedure`) for diagnostics only:
no prompt, label or retriever input contains it.

Splits (`generate_world`): `corpus` (demonstrations), `train` (policy RL queries), `test` (new numbers,
story/procedure combinations seen in training) and `test_hard` (story/procedure combinations that no
other split has: each procedure is told only in half of the places elsewhere, the other half here).
`pretrain_examples` streams the policy's pre-training text from the same generator: solved problems of
the *taught* half of the procedures (some with a demonstration in context) and practice pairs in which a
made-up rule name is explained only by the demonstration before it. The other half of the procedures
is never in the pre-training text: the policy can solve those only by following a demonstration (or by
learning them in RL). Version 1 of the world drew every procedure (Zipf frequencies) into pre-training;
the policy memorised all 32 rules (training loss 3e-4), so no demonstration could help it: docs/micro.md.

Everything is a pure function of `WorldConfig` (seeded `random.Random`), so the files are
reproducible byte for byte: `python -m rarft_eval.micro.world OUT_DIR` writes them.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

GENERATOR_VERSION = 2

# --- the procedures ---------------------------------------------------------------------------
# A procedure is a list of steps (op, left, right); operands are the inputs a (the start),
# b (the first number), c (the second number) or r (the previous step's result).
ROLE_WORDS = {"a": "the start", "b": "the first number", "c": "the second number", "r": "the result"}
OP_SYMBOL = {"+": "+", "-": "-", "*": "*"}
OP_VERB = {"+": "adds", "-": "subtracts", "*": "multiplies"}

Step = tuple[str, str, str]


def _candidate_procedures() -> list[tuple[Step, ...]]:
    """Every 2- or 3-step procedure in which only two inputs are ever multiplied (so all numbers
    stay small) and each input is used at least once."""
    inputs = ("a", "b", "c")
    first = [(op, x, y) for op in "+-*" for x, y in itertools.permutations(inputs, 2)]
    later = [(op, "r", z) for op in "+-" for z in inputs]
    out: list[tuple[Step, ...]] = []
    seen: set[tuple[int, ...]] = set()
    probe = [(a, b, c) for a in (2, 5, 9) for b in (3, 4, 8) for c in (2, 6, 7)]

    def keep(steps: tuple[Step, ...]) -> None:
        behaviour = tuple(evaluate(steps, *x)[-1][3] for x in probe)
        if behaviour not in seen:  # two procedures that always agree are one procedure
            seen.add(behaviour)
            out.append(steps)

    for s1 in first:
        for s2 in later:
            steps = (s1, s2)
            if {s1[1], s1[2], s2[2]} == set(inputs):
                keep(steps)
            for s3 in later:
                steps3 = (s1, s2, s3)
                used = [s1[1], s1[2], s2[2], s3[2]]
                if set(used) == set(inputs) and s1[0] == "*":
                    keep(steps3)
    return out


def describe(steps: tuple[Step, ...]) -> str:
    """'multiplies the start by the first number, then adds the second number'."""
    parts = []
    for i, (op, x, y) in enumerate(steps):
        if i == 0:
            if op == "*":
                parts.append(f"multiplies {ROLE_WORDS[x]} by {ROLE_WORDS[y]}")
            elif op == "+":
                parts.append(f"adds {ROLE_WORDS[y]} to {ROLE_WORDS[x]}")
            else:
                parts.append(f"subtracts {ROLE_WORDS[y]} from {ROLE_WORDS[x]}")
        else:
            word = "adds" if op == "+" else "subtracts"
            parts.append(f"{word} {ROLE_WORDS[y]}")
    return ", then ".join(parts)


def evaluate(steps: tuple[Step, ...], a: int, b: int, c: int) -> list[tuple[int, str, int, int]]:
    """The trace [(left, op, right, result), ...] of a procedure on (a, b, c)."""
    env = {"a": a, "b": b, "c": c}
    trace = []
    for op, x, y in steps:
        left, right = env[x], env[y]
        result = left + right if op == "+" else left - right if op == "-" else left * right
        trace.append((left, op, right, result))
        env["r"] = result
    return trace


# --- the surface ------------------------------------------------------------------------------
NAMES = [
    "Mira", "Tobin", "Asha", "Bruno", "Celia", "Dario", "Elin", "Farid", "Greta", "Hugo", "Ines", "Jonas",
    "Kaia", "Lior", "Maren", "Nils", "Odile", "Pavel", "Quinn", "Rosa", "Soren", "Talia", "Umar", "Vera",
    "Wren", "Xavi", "Yara", "Zeno", "Alma", "Boris", "Cleo", "Dmitri", "Esme", "Felix", "Gaia", "Hector",
    "Ivo", "Juno", "Kenji", "Lena", "Milo", "Nora", "Otto", "Pia", "Rafa", "Sina", "Theo", "Ula",
]
JOBS = [
    "baker", "sailor", "farmer", "potter", "weaver", "miner", "tailor", "painter", "fisher", "gardener",
    "smith", "carpenter", "merchant", "shepherd", "librarian", "brewer",
]
PLACES = [
    "Dunmere", "Ashford", "Brightwater", "Coldharbor", "Deepdale", "Elmstead", "Fernhill", "Glenrock",
    "Highmoor", "Ivybridge", "Kettlewell", "Larkspur", "Millbrook", "Northgate", "Oakhurst", "Pinecrest",
    "Queensbay", "Redcliff", "Stonehaven", "Thornbury", "Umberlee", "Valemont", "Westwick", "Yarrowfield",
]
OBJECTS = [
    "pears", "marbles", "candles", "shells", "buttons", "lanterns", "apples", "coins", "ribbons", "stones",
    "feathers", "bottles", "pebbles", "kites", "acorns", "bells", "cups", "nails", "beads", "carrots",
    "plums", "scarves", "tickets", "maps", "jars", "books", "baskets", "hats", "drums", "keys", "rings",
    "spoons",
]
TEMPLATES = [
    "In {place}, {name} the {job} counts {a} {object}. Then the {rule} rule is applied with {b} and {c}. "
    "What number does {name} end with?",
    "{name} is a {job} who lives in {place}. {name} starts with {a} {object} and uses the {rule} rule with "
    "{b} and {c}. How many {object} does {name} have at the end?",
    "At the market of {place}, a {job} named {name} has {a} {object}. The {rule} rule is used with the "
    "numbers {b} and {c}. What is the final count?",
    "Every morning in {place}, {name} the {job} lines up {a} {object}. Today {name} follows the {rule} "
    "rule with {b} and {c}. What number does {name} get?",
    "The {job} {name} from {place} keeps {a} {object} in a box. Applying the {rule} rule with {b} and {c} "
    "changes the count. What is the new count?",
    "{name}, a {job} in {place}, is given {a} {object}. Using the {rule} rule with {b} and {c}, what "
    "result does {name} find?",
]
_SYLLABLES_A = ["v", "t", "k", "z", "br", "gl", "m", "s", "dr", "pl", "f", "qu", "n", "sk", "h", "w"]
_SYLLABLES_B = ["el", "arn", "ix", "om", "ute", "ask", "ev", "ol", "ird", "un", "ap", "esh"]


def _rule_names(n: int, rng: random.Random) -> list[str]:
    pool = [a + b for a in _SYLLABLES_A for b in _SYLLABLES_B]
    rng.shuffle(pool)
    return pool[:n]


# --- the world --------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorldConfig:
    seed: int = 0
    n_procedures: int = 32
    corpus_per_procedure: int = 24
    train_per_procedure: int = 64
    test_per_procedure: int = 10
    test_hard_per_procedure: int = 10
    number_range: tuple[int, int] = (2, 9)  # inputs a, b, c are drawn from this range (inclusive)
    max_answer: int = 199
    n_taught: int = 16  # procedures p00..p15 appear in the policy's pre-training; the rest never do
    version: int = GENERATOR_VERSION

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Procedure:
    index: int
    rule: str
    steps: tuple[Step, ...]
    places: tuple[str, ...]  # the places it is told in outside the hard test split

    @property
    def id(self) -> str:
        return f"p{self.index:02d}"

    def description(self) -> str:
        return describe(self.steps)


@dataclass
class Item:
    id: str
    problem: str
    solution: str
    answer: str
    procedure: str  # the hidden procedure id, for diagnostics only
    story: dict = field(default_factory=dict)

    def row(self) -> dict:
        return {"id": self.id, "problem": self.problem, "solution": self.solution, "answer": self.answer,
                "procedure": self.procedure, "story": self.story}


class World:
    """The procedures of a `WorldConfig` and the generators of its items."""

    def __init__(self, config: WorldConfig = WorldConfig()):
        self.config = config
        rng = random.Random(f"micro-world-{config.seed}-procedures")
        candidates = _candidate_procedures()
        rng.shuffle(candidates)
        chosen = candidates[: config.n_procedures]
        rules = _rule_names(config.n_procedures, rng)
        self.procedures: list[Procedure] = []
        for i, steps in enumerate(chosen):
            places = sorted(rng.sample(PLACES, len(PLACES) // 2), key=PLACES.index)
            self.procedures.append(Procedure(i, rules[i], steps, tuple(places)))

    # one solved problem
    def make_item(self, proc: Procedure, rng: random.Random, item_id: str, *, hard: bool = False,
                  exclude: set | None = None, rule: str | None = None) -> Item:
        lo, hi = self.config.number_range
        places = [p for p in PLACES if (p in proc.places) != hard]
        for _ in range(1000):
            a, b, c = (rng.randint(lo, hi) for _ in range(3))
            trace = evaluate(proc.steps, a, b, c)
            if any(r < 0 for *_, r in trace) or trace[-1][3] > self.config.max_answer:
                continue
            story = {
                "template": rng.randrange(len(TEMPLATES)), "name": rng.choice(NAMES), "job": rng.choice(JOBS),
                "place": rng.choice(places), "object": rng.choice(OBJECTS),
            }
            key = (proc.id, a, b, c, story["template"], story["name"], story["place"], story["object"])
            if exclude is not None:
                if key in exclude:
                    continue
                exclude.add(key)
            break
        else:  # pragma: no cover - the ranges always leave room
            raise RuntimeError(f"could not draw numbers for {proc.id}")
        problem = TEMPLATES[story["template"]].format(
            place=story["place"], name=story["name"], job=story["job"], object=story["object"],
            rule=rule or proc.rule, a=a, b=b, c=c,
        )
        lines = [f"The {rule or proc.rule} rule {proc.description()}."]
        lines += [f"Step {i}: {x} {OP_SYMBOL[op]} {y} = {r}." for i, (x, op, y, r) in enumerate(trace, 1)]
        answer = str(trace[-1][3])
        lines.append(f"The answer is \\boxed{{{answer}}}.")
        story = {**story, "numbers": [a, b, c]}
        return Item(item_id, problem, "\n".join(lines), answer, proc.id, story)

    def split(self, name: str, per_procedure: int, *, hard: bool = False, exclude: set | None = None) -> list[Item]:
        rng = random.Random(f"micro-world-{self.config.seed}-{name}")
        items = []
        for j in range(per_procedure):
            for proc in self.procedures:
                items.append(self.make_item(proc, rng, f"{name}-{len(items):05d}", hard=hard, exclude=exclude))
        rng.shuffle(items)
        return items

    def splits(self) -> dict[str, list[Item]]:
        """corpus, train, test, test_hard; no (procedure, numbers, story) instance appears twice."""
        seen: set = set()
        c = self.config
        return {
            "corpus": self.split("corpus", c.corpus_per_procedure, exclude=seen),
            "train": self.split("train", c.train_per_procedure, exclude=seen),
            "test": self.split("test", c.test_per_procedure, exclude=seen),
            "test_hard": self.split("test_hard", c.test_hard_per_procedure, hard=True, exclude=seen),
        }

    def taught(self, proc: Procedure) -> bool:
        return proc.index < self.config.n_taught

    def pretrain_examples(self, n: int, *, seed: int = 0, p_same: float = 0.2, p_other: float = 0.1,
                          p_practice: float = 0.3) -> Iterator[tuple[Item, Item | None]]:
        """n (problem, demonstration or None) pairs of pre-training text.

        - with probability p_practice, a *practice* pair: a procedure drawn from every procedure the
          generator can build, under a fresh made-up rule name, after a demonstration of the same rule.
          The name is new, so the only way to solve it is to follow the demonstration;
        - otherwise a problem of a *taught* procedure (the first n_taught; the others never appear here),
          with a demonstration of the same procedure (p_same), of another taught one (p_other), or none.
        Stories never come from the hard split's places.
        """
        rng = random.Random(f"micro-world-{self.config.seed}-pretrain-{seed}")
        taught = [p for p in self.procedures if self.taught(p)]
        world_rules = {p.rule for p in self.procedures}
        fresh = [a + b for a in _SYLLABLES_A for b in _SYLLABLES_B if a + b not in world_rules]
        every = _candidate_procedures()
        for i in range(n):
            u = rng.random()
            if u < p_practice:
                proc = Procedure(-1, rng.choice(fresh), rng.choice(every), tuple(PLACES))
                item = self.make_item(proc, rng, f"pretrain-{i}")
                yield item, self.make_item(proc, rng, f"pretrain-{i}-demo")
                continue
            proc = rng.choice(taught)
            item = self.make_item(proc, rng, f"pretrain-{i}")
            v = rng.random()
            demo = None
            if v < p_same:
                demo = self.make_item(proc, rng, f"pretrain-{i}-demo")
            elif v < p_same + p_other:
                other = rng.choice([p for p in taught if p.index != proc.index])
                demo = self.make_item(other, rng, f"pretrain-{i}-demo")
            yield item, demo

    def manifest(self) -> dict:
        return {
            "generator": "rarft_eval.micro.world",
            "config": asdict(self.config),
            "config_sha256": self.config.sha256(),
            "procedures": [
                {"id": p.id, "rule": p.rule, "description": p.description(), "steps": [list(s) for s in p.steps],
                 "places": list(p.places), "taught": self.taught(p)}
                for p in self.procedures
            ],
        }


SPLIT_FILES = {"corpus": "corpus.jsonl", "train": "train.jsonl", "test": "test.jsonl", "test_hard": "test_hard.jsonl"}
GOLD_FILE = "same_procedure.jsonl"  # (query, demonstration) pairs of the same procedure: recall@k, oracle


def write_world(out_dir: str | Path, config: WorldConfig = WorldConfig()) -> dict[str, str]:
    """Write the splits, the same-procedure gold pairs and world.json into out_dir; return sha256s."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = World(config)
    splits = world.splits()
    written: dict[str, str] = {}

    def dump(name: str, rows: list[dict]) -> None:
        text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
        tmp = out / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)
        written[name] = hashlib.sha256(text.encode()).hexdigest()

    for split, fname in SPLIT_FILES.items():
        dump(fname, [it.row() for it in splits[split]])
    by_proc: dict[str, list[str]] = {}
    for it in splits["corpus"]:
        by_proc.setdefault(it.procedure, []).append(it.id)
    gold = [
        {"query_id": q.id, "demo_id": d, "label": 1}
        for split in ("test", "test_hard") for q in splits[split] for d in by_proc[q.procedure]
    ]
    dump(GOLD_FILE, gold)
    manifest = world.manifest() | {"files": dict(sorted(written.items()))}
    (out / "world.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write the micro world's splits (deterministic under --seed).")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name, sha in write_world(args.out_dir, WorldConfig(seed=args.seed)).items():
        print(f"{sha[:12]}  {args.out_dir / name}")


if __name__ == "__main__":
    main()
