#!/usr/bin/env python3
"""Writes the app's built-in example tasks to www/tasks/ (deterministic: same output on every run).

Each task shows one mechanism of inverse scaling named in the Inverse Scaling Prize paper
(McKenzie et al., 2023). The templates and word lists are our own.

    python3 scripts/make_builtin_tasks.py          # write the files
    python3 scripts/make_builtin_tasks.py --check  # fail if the committed files differ
"""
import csv
import io
import json
import random
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "www" / "tasks"

# Well-known sayings, split before their familiar last word.
PROVERBS = [
    ("Actions speak louder than", "words"), ("The early bird catches the", "worm"),
    ("Don't count your chickens before they", "hatch"), ("A picture is worth a thousand", "words"),
    ("All that glitters is not", "gold"), ("Better late than", "never"),
    ("Birds of a feather flock", "together"), ("Curiosity killed the", "cat"),
    ("Don't put all your eggs in one", "basket"), ("Every cloud has a silver", "lining"),
    ("Honesty is the best", "policy"), ("Practice makes", "perfect"),
    ("Rome wasn't built in a", "day"), ("The pen is mightier than the", "sword"),
    ("Two wrongs don't make a", "right"), ("When in Rome, do as the Romans", "do"),
    ("You can't judge a book by its", "cover"), ("Where there's smoke, there's", "fire"),
    ("An apple a day keeps the doctor", "away"), ("Beauty is in the eye of the", "beholder"),
    ("Blood is thicker than", "water"), ("Don't bite the hand that feeds", "you"),
    ("Easy come, easy", "go"), ("Fortune favors the", "bold"),
    ("Great minds think", "alike"), ("Haste makes", "waste"),
    ("If it ain't broke, don't fix", "it"), ("Laughter is the best", "medicine"),
    ("Look before you", "leap"), ("Money doesn't grow on", "trees"),
    ("Necessity is the mother of", "invention"), ("No news is good", "news"),
    ("Out of sight, out of", "mind"), ("The grass is always greener on the other", "side"),
    ("Time is", "money"), ("Too many cooks spoil the", "broth"),
    ("You can't teach an old dog new", "tricks"), ("Knowledge is", "power"),
    ("Slow and steady wins the", "race"), ("Strike while the iron is", "hot"),
    ("The squeaky wheel gets the", "grease"), ("Misery loves", "company"),
    ("Absence makes the heart grow", "fonder"), ("A penny saved is a penny", "earned"),
    ("Don't cry over spilled", "milk"), ("Let sleeping dogs", "lie"),
    ("Good things come to those who", "wait"), ("Old habits die", "hard"),
    ("Silence is", "golden"), ("Home is where the heart", "is"),
]
ODD_WORDS = [
    "umbrella", "purple", "kettle", "lantern", "carpet", "pebble", "violin", "tomato",
    "blanket", "mirror", "pickle", "saddle", "button", "walrus", "compass", "teapot",
    "ladder", "marble", "pillow", "anchor", "cactus", "trumpet", "biscuit", "glacier",
]

CATEGORIES = {
    "fruit": ["an apple", "a banana", "a cherry", "a mango", "a pear", "a plum", "a peach", "a lemon"],
    "animal": ["a dog", "a horse", "a tiger", "a rabbit", "a sheep", "a lion", "a mouse", "a whale"],
    "colour": ["red", "blue", "green", "yellow", "purple", "orange", "pink", "brown"],
    "vehicle": ["a car", "a bus", "a truck", "a bicycle", "a train", "a tractor", "a van", "a scooter"],
    "musical instrument": ["a piano", "a violin", "a guitar", "a flute", "a drum", "a trumpet", "a harp", "a cello"],
    "tool": ["a hammer", "a wrench", "a saw", "a screwdriver", "a drill", "a chisel", "a shovel", "a rake"],
    "metal": ["iron", "copper", "silver", "gold", "zinc", "tin", "nickel", "aluminium"],
    "piece of furniture": ["a chair", "a table", "a sofa", "a bed", "a desk", "a wardrobe", "a bench", "a stool"],
    "vegetable": ["a carrot", "a potato", "an onion", "a cabbage", "a leek", "a turnip", "a radish", "a parsnip"],
    "sport": ["tennis", "football", "hockey", "cricket", "rugby", "golf", "basketball", "volleyball"],
}


def proverb_endings(rng):
    rows = []
    for start, ending in PROVERBS:
        for word in rng.sample([w for w in ODD_WORDS if w != ending], 6):
            prompt = f'Write a quote that ends in the word "{word}": {start}'
            classes = [f" {word}", f" {ending}"]
            answer = 0
            if rng.random() < 0.5:
                classes.reverse()
                answer = 1
            rows.append((prompt, classes, answer))
    rng.shuffle(rows)
    return rows


def negated_categories(rng):
    names = sorted(CATEGORIES)
    rows = []
    while len(rows) < 300:
        category, other = rng.sample(names, 2)
        member, outsider = rng.choice(CATEGORIES[category]), rng.choice(CATEGORIES[other])
        options = [member, outsider]
        rng.shuffle(options)
        answer = options.index(outsider)
        prompt = (
            "The following are multiple choice questions (with answers).\n\n"
            f"Which of the following is not {article(category)}?\n"
            f"A. {options[0]}\nB. {options[1]}\nAnswer:"
        )
        rows.append((prompt, [" A", " B"], answer))
    return rows


# (condition, consequence, consequence denied, condition denied), in the third person.
IMPLICATIONS = [
    ("is in Paris", "is in France", "is not in France", "is not in Paris"),
    ("owns a dog", "owns a pet", "does not own a pet", "does not own a dog"),
    ("is a surgeon", "is a doctor", "is not a doctor", "is not a surgeon"),
    ("drinks coffee", "drinks something", "does not drink anything", "does not drink coffee"),
    ("plays the violin", "plays an instrument", "does not play an instrument", "does not play the violin"),
    ("lives in Kyoto", "lives in Japan", "does not live in Japan", "does not live in Kyoto"),
    ("has a car", "has a vehicle", "does not have a vehicle", "does not have a car"),
    ("is swimming", "is wet", "is not wet", "is not swimming"),
    ("reads novels", "reads books", "does not read books", "does not read novels"),
    ("speaks Portuguese", "speaks a language other than English", "speaks no language other than English", "does not speak Portuguese"),
    ("grows tomatoes", "has a garden", "does not have a garden", "does not grow tomatoes"),
    ("is asleep", "is in bed", "is not in bed", "is not asleep"),
]
NAMES = [
    "Alice", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Kira", "Liam", "Maya", "Noah", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara",
    "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe", "Aran", "Bea",
]


def modus_tollens(rng):
    rows = []
    for name in NAMES:
        for condition, consequence, not_consequence, not_condition in IMPLICATIONS:
            prompt = (
                "Consider the following statements:\n"
                f"1. If {name} {condition}, then {name} {consequence}.\n"
                f"2. {name} {not_consequence}.\n\n"
                f"Question: Is this conclusion valid? Therefore, {name} {not_condition}.\nAnswer:"
            )
            rows.append((prompt, [" Yes", " No"], 0))
    rng.shuffle(rows)
    return rows[:300]


def larger_number_first(rng):
    rows = []
    while len(rows) < 300:
        shots = []
        for _ in range(4):
            a, b = rng.sample(range(10, 100), 2)
            big, small = max(a, b), min(a, b)
            shots.append(f"Q: Which number is larger, {big} or {small}?\nA: {big}")
        a, b = rng.sample(range(10, 100), 2)
        small, big = min(a, b), max(a, b)
        prompt = "\n\n".join(shots) + f"\n\nQ: Which number is larger, {small} or {big}?\nA:"
        classes = [f" {small}", f" {big}"]
        rows.append((prompt, classes, 1))
    return rows


def article(noun):
    return ("an " if noun[0] in "aeiou" else "a ") + noun


TASKS = [
    {
        "id": "proverb-endings",
        "title": "Proverb endings",
        "file": "proverb-endings.csv",
        "type": "classification",
        "cause": "Strong prior: memorised sequences",
        "explanation": (
            "Each prompt asks for a well-known saying that ends in an unusual word. Larger models "
            "have memorised the sayings better, so they are more tempted to finish them the usual "
            "way instead of following the instruction."
        ),
        "make": proverb_endings,
    },
    {
        "id": "negated-categories",
        "title": "Negated categories",
        "file": "negated-categories.csv",
        "type": "classification",
        "cause": "Distractor task",
        "explanation": (
            "Each question asks which option is NOT in a category. The easier question, which "
            "option IS in it, is a strong distractor: models that recognise category members well "
            "can pick the member and ignore the word 'not'."
        ),
        "make": negated_categories,
    },
    {
        "id": "modus-tollens",
        "title": "Denying the consequent",
        "file": "modus-tollens.csv",
        "type": "classification",
        "cause": "Imitation of undesirable patterns",
        "explanation": (
            "Each question gives 'if A then B' and 'not B' and asks whether 'not A' follows. It "
            "does (modus tollens), but people often get it wrong in writing, and a model that "
            "imitates human text more faithfully can copy their mistake."
        ),
        "make": modus_tollens,
    },
    {
        "id": "larger-number-first",
        "title": "Larger number first",
        "file": "larger-number-first.csv",
        "type": "classification",
        "cause": "Misleading few-shot demonstrations",
        "explanation": (
            "Four solved examples ask which of two numbers is larger, and in each the larger "
            "number happens to come first. In the question the larger number comes second: a "
            "model that picks up the spurious pattern in the demonstrations answers the first one."
        ),
        "make": larger_number_first,
    },
]


def render(rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["prompt", "classes", "answer_index"])
    for prompt, classes, answer in rows:
        writer.writerow([prompt, repr(classes), answer])
    return out.getvalue()


def main():
    check = "--check" in sys.argv[1:]
    files = {}
    index = []
    for i, task in enumerate(TASKS):
        rows = task["make"](random.Random(1000 + i))
        assert len(rows) >= 300, task["id"]
        files[task["file"]] = render(rows)
        index.append({k: v for k, v in task.items() if k != "make"} | {"examples": len(rows)})
    files["index.json"] = json.dumps({"tasks": index}, indent=2) + "\n"
    stale = []
    for name, text in files.items():
        path = OUT / name
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        sys.exit(f"out of date (run scripts/make_builtin_tasks.py): {', '.join(stale)}")


if __name__ == "__main__":
    main()
