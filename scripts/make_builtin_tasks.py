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
