#!/usr/bin/env python3
"""Write a deterministic classification task in the prize's CSV format, for benchmarks.

Run from the repository root (needs the venv of scripts/requirements-fixtures.txt):

    .venv/bin/python scripts/make_bench_task.py /tmp/bench/task.csv [--examples 200] [--seed 0] [--template]

Each example is a short plain-English story about a day in a small town (assembled from the
templates and word lists below) followed by a question, `\\nQ: ...?\\nA:`, with 2 or 3 classes
(" yes"/" no", names, or multi-token answers such as " the train station" or " a basket of
apples", always with a leading space).  The story states the answer, and the classes are
shuffled so answer_index varies.  Prompt lengths are drawn uniformly between about 50 and 300
GPT-2 tokens (measured with tests/fixtures/tokenizer.json while the story is built).

With --template, every prompt starts with the same instruction and the same three solved
demonstrations (about 300 tokens), as many of the prize's tasks do: the shared text a prefix
cache reads once.

The file has pandas' unnamed index column and the columns `prompt,classes,answer_index`,
classes written as a Python list literal, exactly as scripts/make_fixtures.py writes its task
files.  The same --examples and --seed always give the same bytes.  Prints the token-length
statistics (prompt, prompt+class) and the amount of work a one-forward-per-class evaluator does.
"""
from __future__ import annotations

import argparse
import random
import statistics
from pathlib import Path

from tokenizers import Tokenizer

from pipeline_reference import py_list_literal, read_task, write_csv

REPO = Path(__file__).resolve().parent.parent

NAMES = ["Alice", "Bob", "Carol", "David", "Emma", "Frank", "Grace", "Henry", "Irene", "Jack",
         "Laura", "Martin", "Nora", "Oscar", "Paula", "Rosa", "Samuel", "Tara", "Victor", "Wendy"]
PLACES = ["the market", "the old library", "the harbor", "the bakery", "the train station",
          "the town hall", "the museum", "the park", "the post office", "the hardware store"]
OBJECTS = ["a red umbrella", "a basket of apples", "a small wooden box", "a letter",
           "a blue bicycle", "an old map", "a loaf of bread", "a silver key", "a bag of flour",
           "a stack of books"]
ANIMALS = ["dog", "cat", "horse", "goat", "rabbit", "goose"]
COLORS = ["brown", "grey", "white", "black", "yellow"]
WEATHER = ["cold and windy", "warm and bright", "grey and quiet", "wet after the night's rain",
           "clear, with a light breeze", "foggy until noon"]
ADJS = ["busy", "empty", "noisy", "calm", "crowded", "sleepy"]
PEOPLE = ["baker", "fisherman", "teacher", "shopkeeper", "farmer", "painter", "doctor", "clerk"]
TOPICS = ["the price of eggs", "the coming storm", "an old song", "the new bridge",
          "a lost cat", "the summer fair", "a broken clock", "the harvest"]
SPOTS = ["fence", "doorway", "window", "bench", "wall", "roof"]
TIMES = ["almost noon", "late in the afternoon", "early in the evening", "just after lunch"]

FILLER = [
    "The weather was {weather}, and the streets were {adj}.",
    "{hero} stopped to talk with a {person} about {topic}.",
    "On the way, {hero} noticed a {color} {animal} near {place}.",
    "It was {time} when {hero} sat down on a {spot2} to rest for a while.",
    "A {animal} watched from the {spot} as {hero} walked past.",
    "{other} waved from across the square, but {hero} did not see.",
    "Somewhere a bell rang twice, and a few birds flew over {place}.",
    "The {person} said that {topic} was all anyone talked about this week.",
    "{hero} counted the coins in a pocket and decided there was enough.",
    "Near {place}, a group of children were playing a noisy game.",
    "{other} was busy with {topic} and had no time to chat.",
    "The smell of fresh bread drifted out of an open window.",
]


def story(rng: random.Random, tok: Tokenizer, target: int):
    """(prompt, classes, answer_index) whose prompt has about `target` tokens."""
    hero, other, third = rng.sample(NAMES, 3)
    places = rng.sample(PLACES, 3)
    objs = rng.sample(OBJECTS, 2)
    animal = rng.choice(ANIMALS)
    acolor, bcolor, ccolor = rng.sample(COLORS, 3)
    happy = rng.random() < 0.5
    kind = rng.choice(["where", "what", "who", "color", "happy"])

    key = [f"In the morning, {hero} went to {places[0]} carrying {objs[0]}."]
    if kind == "who":
        key.append(f"At {places[0]}, {hero} met {other}, who was waiting by the door.")
    if kind == "color":
        key.append(f"Outside {places[1]} there was a {acolor} {animal} sleeping in the sun.")
    key.append(f"Later, {hero} walked over to {places[1]} and then to {places[2]}.")
    end = (f"By the evening {hero} was smiling and felt very happy about the day."
           if happy else f"By the evening {hero} was tired and felt sad about the whole day.")

    if kind == "where":
        q, cls, ans = f"Where did {hero} go first?", [places[0], places[1], places[2]], 0
    elif kind == "what":
        q, cls, ans = f"What did {hero} carry in the morning?", objs, 0
    elif kind == "who":
        q, cls, ans = f"Who did {hero} meet at {places[0]}?", [other, third], 0
    elif kind == "color":
        q, cls, ans = f"What color was the {animal} outside {places[1]}?", [acolor, bcolor, ccolor], 0
    else:
        q, cls, ans = f"Was {hero} happy at the end of the day?", ["yes", "no"], 0 if happy else 1
    if kind in ("where", "who", "color") and rng.random() < 0.4:
        cls = cls[:2]
    order = list(range(len(cls)))
    rng.shuffle(order)
    classes = [" " + cls[i] for i in order]
    answer_index = order.index(ans)
    question = f"\nQ: {q}\nA:"

    # filler never mentions the animal a colour question asks about
    animals = [a for a in ANIMALS if a != animal] if kind == "color" else ANIMALS

    def fill():
        return rng.choice(FILLER).format(
            hero=hero, other=rng.choice([other, third]), weather=rng.choice(WEATHER),
            adj=rng.choice(ADJS), person=rng.choice(PEOPLE), topic=rng.choice(TOPICS),
            color=rng.choice(COLORS), animal=rng.choice(animals), place=rng.choice(PLACES),
            time=rng.choice(TIMES), spot=rng.choice(SPOTS), spot2=rng.choice(["bench", "low wall", "step"]))

    # key sentences keep their order; filler goes before, between and after them
    body = list(key)
    n = len(tok.encode(" ".join(body + [end]) + question).ids)
    while n < target:
        s = fill()
        if s in body:  # no sentence twice in one story
            continue
        body.insert(rng.randint(0, len(body)), s)
        n = len(tok.encode(" ".join(body + [end]) + question).ids)
    return " ".join(body + [end]) + question, classes, answer_index


INSTRUCTION = ("Read each story, then answer the question about it with one of the choices. "
               "The answer is always stated in the story.\n\n")


def template(tok: Tokenizer) -> str:
    """The instruction and three solved demonstrations, the same for every example."""
    rng = random.Random(1234)
    demos = []
    for _ in range(3):
        prompt, classes, answer = story(rng, tok, 80)
        demos.append(prompt + classes[answer])
    return INSTRUCTION + "\n\n".join(demos) + "\n\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--examples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--template", action="store_true", help="the same instruction and demonstrations before every prompt")
    args = ap.parse_args()

    tok = Tokenizer.from_file(str(REPO / "tests" / "fixtures" / "tokenizer.json"))
    rng = random.Random(args.seed)
    rows = []
    shared = template(tok) if args.template else ""
    for _ in range(args.examples):
        prompt, classes, answer = story(rng, tok, rng.randint(50, 290))
        rows.append((shared + prompt, classes, answer))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(out, ["prompt", "classes", "answer_index"],
              [(p, py_list_literal(c), a) for p, c, a in rows], index_col=True, line_end="\n")

    # read it back as reference_eval.py does
    tt, back = read_task(out)
    assert tt == "classification" and [(e["prompt"], e["classes"], e["answer_index"]) for e in back] == rows

    plen = [len(tok.encode(p).ids) for p, _, _ in rows]
    full = [len(tok.encode(p + c).ids) for p, cs, _ in rows for c in cs]
    clen = [len(tok.encode(c).ids) for _, cs, _ in rows for c in cs]
    ncls = [len(cs) for _, cs, _ in rows]
    answers = [a for _, _, a in rows]

    def stats(xs):
        return f"min {min(xs)}, median {statistics.median(xs):g}, max {max(xs)}"

    print(f"wrote {out}: {len(rows)} classification examples, seed {args.seed}"
          + (f", a template of {len(tok.encode(shared).ids)} tokens before each" if shared else ""))
    print(f"prompt tokens: {stats(plen)}, total {sum(plen):,}")
    print(f"prompt+class tokens (one forward each): {stats(full)}; {len(full)} forwards, "
          f"{sum(full):,} tokens in all")
    print(f"classes per example: 2 x{ncls.count(2)}, 3 x{ncls.count(3)}; class tokens {stats(clen)}, "
          f"{sum(1 for x in clen if x > 1)} of {len(clen)} classes are multi-token; answer_index "
          f"0/1/2 = {answers.count(0)}/{answers.count(1)}/{answers.count(2)}")


if __name__ == "__main__":
    main()
