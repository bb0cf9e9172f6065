"""Build the assignments, or a term's own variant of them: same questions, other numbers.

    python tools/assignment_variant.py              # what `make assignments` runs
    python tools/assignment_variant.py --seed 2027  # what `make assignments SEED=2027` runs

Without a seed, `otter assign` builds each source in assignments/ into
_build/assignments/<name>/ (student/ and autograder/ with the zip), and the student notebooks
and their files are copied to assignments/student/, from where Colab opens them.

With a seed, the variant's sources go to _build/assignments-seed<SEED>/sources/ and are built
into _build/assignments-seed<SEED>/<name>/; assignments/student/ is left alone. A variant
draws new values for the numbers a public answer could be copied from: the layer sizes of
assignment 1's network, assignment 2's LRN settings, assignment 3's photo crops, and every
hidden test's cases. Otter assign grades each variant's reference solution against its own
tests and fails unless it scores full marks.

What varies is the line `NAME = <literal>` for each (question, NAME) in `draw()`: inside a
question's cells (its tests) or, with question None, outside questions (data the students
see). The tool stops if such a line is missing from a source.
"""

import argparse
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "assignments"
BUILD = ROOT / "_build"
RULES = "assignment_rules.py"  # shipped in every autograder (autograder_files)
PHOTOS = "photos.npy"  # assignment 3's data (files)
CROP = 256  # photo crops are 256x256 regions, every other pixel: 128x128
LINE = re.compile(r"^(\s*)([A-Za-z_]\w*) = (.*)$")


def photos(crops) -> np.ndarray:
    """Assignment 3's photographs: (2, 128, 128, 3) uint8 crops at (row, column) corners."""
    import skimage.data

    images = [skimage.data.astronaut(), skimage.data.coffee()]
    return np.stack([image[r:r + CROP:2, c:c + CROP:2] for image, (r, c) in zip(images, crops)])


def _draw_shapes(rng: random.Random) -> dict:
    default = ([96, 256, 384, 384, 256], [4096, 1000])
    while True:
        widths = [rng.choice([64, 96, 128]), rng.choice([192, 256, 320]), rng.choice([288, 384, 448]),
                  rng.choice([288, 384, 448]), rng.choice([192, 256, 320])]
        head = [rng.choice([2048, 3072, 4096]), rng.choice([100, 200, 1000])]
        if (widths, head) != default:
            break
    c1, c2, c3, c4, c5 = widths
    convolutions = [("conv1", 11, 3, c1, 1), ("conv2", 5, c1, c2, 2), ("conv3", 3, c2, c3, 1),
                    ("conv4", 3, c3, c4, 2), ("conv5", 3, c4, c5, 2)]
    dense = [6 * 6 * c5, head[0], head[0], head[1]]
    sizes = []
    while not (any(p for *_, p in sizes) and any((w - k + 2 * p) % s for w, k, s, p in sizes)):
        sizes = []
        for _ in range(4):
            k, s, p = rng.choice([1, 3, 5, 7, 11]), rng.randint(1, 4), rng.randint(0, 3)
            sizes.append((rng.randint(max(k, 8), 256), k, s, p))
    layers = []
    while len({g for *_, g in layers}) < 2:
        layers = [(rng.choice([1, 3, 5, 7]), g * rng.randint(2, 96), rng.randint(8, 512), g)
                  for g in (rng.choice([1, 2, 4]) for _ in range(3))]
    return {
        ("q1_output_size", "cases"): sizes,
        ("q2_parameters", "cases"): layers,
        ("q3_macs", "cases"): [(rng.randint(1, 64), *layer) for layer in layers],
        (None, "CONVOLUTIONS"): convolutions,
        (None, "DENSE"): dense,
        ("q4_total", "convolutions"): convolutions,
        ("q4_total", "dense"): dense,
        ("q4_total", "expected_dense"): sum(a * b + b for a, b in zip(dense, dense[1:])),
    }


def _draw_lrn(rng: random.Random) -> dict:
    def settings():
        return {"k": rng.choice([1.0, 2.0]), "n": rng.choice([3, 5, 7]),
                "alpha": rng.choice([5e-05, 0.0001, 0.0002, 0.0005, 0.001]),
                "beta": rng.choice([0.5, 0.75, 1.0])}

    windows = []
    while not (any(i < n // 2 for i, _, n in windows) and any(i > c - 1 - n // 2 for i, c, n in windows)):
        windows = []
        for _ in range(4):
            channels = rng.randint(1, 16)
            windows.append((rng.randint(0, channels - 1), channels, rng.choice([3, 5, 7])))
    shapes = [tuple(rng.randint(1, 4) for _ in range(rng.randint(0, 3))) + (rng.randint(1, 16),)
              for _ in range(3)]
    term = settings()
    while term["alpha"] * term["n"] == 0.0001 * 5:
        term = settings()
    return {
        ("q1_window", "cases"): windows,
        ("q2_lrn", "seed"): rng.randint(1, 9999),
        ("q2_lrn", "cases"): [(shapes[0], {})] + [(shape, settings()) for shape in shapes[1:]],
        (None, "LRN_SETTINGS"): term,
        ("q3_torch_alpha", "lrn_settings"): term,
        ("q3_torch_alpha", "cases"): [(settings()["alpha"], rng.randint(1, 9)) for _ in range(3)],
    }


def _draw_pca_colour(rng: random.Random) -> dict:
    crops = [(0, 0), (0, 0)]
    while crops == [(0, 0), (0, 0)]:  # astronaut 512x512, coffee 400x600
        crops = [(rng.randint(0, 512 - CROP), rng.randint(0, 512 - CROP)),
                 (rng.randint(0, 400 - CROP), rng.randint(0, 600 - CROP))]
    return {
        (None, "PHOTO_CROPS"): crops,
        ("q1_covariance", "seed"): rng.randint(1, 9999),
        ("q2_components", "seed"): rng.randint(1, 9999),
        ("q3_augment", "seed"): rng.randint(1, 9999),
        ("q3_augment", "cases"): [[round(rng.gauss(0, 0.1), 3) for _ in range(3)] for _ in range(2)],
    }


DRAW = {"01_shapes": _draw_shapes, "02_lrn": _draw_lrn, "03_pca_colour": _draw_pca_colour}


def draw(name: str, seed: int) -> dict:
    """The values of a variant: {(question or None, NAME): value}."""
    return DRAW[name](random.Random(f"{name}-{seed}"))


def _literal(value) -> str:
    return f"{value:_}" if isinstance(value, int) and abs(value) >= 10_000 else repr(value)


def render(notebook: nbformat.NotebookNode, values: dict) -> nbformat.NotebookNode:
    """A copy of `notebook` with each (question, NAME) line set to its value."""
    notebook = nbformat.from_dict(notebook)
    found, question = set(), None
    for cell in notebook.cells:
        if cell.cell_type == "raw" and cell.source.startswith("# BEGIN QUESTION"):
            question = re.search(r"name:\s*(\S+)", cell.source)[1]
        elif cell.cell_type == "raw" and cell.source.startswith("# END QUESTION"):
            question = None
        elif cell.cell_type == "code":
            lines = cell.source.split("\n")
            for i, line in enumerate(lines):
                match = LINE.match(line)
                if match and (question, match[2]) in values:
                    lines[i] = f"{match[1]}{match[2]} = {_literal(values[question, match[2]])}"
                    found.add((question, match[2]))
            cell.source = "\n".join(lines)
    missing = set(values) - found
    if missing:
        raise ValueError(f"lines missing from the source: {sorted(missing, key=str)}")
    return notebook


def current_values(notebook: nbformat.NotebookNode, keys) -> dict:
    """The literals a notebook holds for (question, NAME) keys, as source text."""
    out, question = {}, None
    for cell in notebook.cells:
        if cell.cell_type == "raw" and cell.source.startswith("# BEGIN QUESTION"):
            question = re.search(r"name:\s*(\S+)", cell.source)[1]
        elif cell.cell_type == "raw" and cell.source.startswith("# END QUESTION"):
            question = None
        elif cell.cell_type == "code":
            for line in cell.source.split("\n"):
                match = LINE.match(line)
                if match and (question, match[2]) in keys:
                    out[question, match[2]] = match[3]
    return out


def write_variant(seed: int, directory: Path) -> list[Path]:
    """Write the variant sources of every assignment (and their files) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(SOURCES / RULES, directory / RULES)
    written = []
    for name in sorted(DRAW):
        values = draw(name, seed)
        notebook = render(nbformat.read(SOURCES / f"{name}.ipynb", as_version=4), values)
        if (None, "PHOTO_CROPS") in values:
            np.save(directory / PHOTOS, photos(values[None, "PHOTO_CROPS"]))
        nbformat.write(notebook, directory / f"{name}.ipynb")
        written.append(directory / f"{name}.ipynb")
    return written


def assign(source: Path, out: Path) -> Path:
    """`otter assign` one source into `out`; returns the autograder zip."""
    shutil.rmtree(out, ignore_errors=True)
    result = subprocess.run([sys.executable, "-m", "otter", "assign", str(source), str(out)],
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"otter assign {source.name} failed:\n{result.stdout[-3000:]}"
                           f"\n{result.stderr[-3000:]}")
    (zip_path,) = (out / "autograder").glob("*.zip")
    return zip_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, help="build this term's variant instead")
    args = parser.parse_args()
    if args.seed is None:
        out = BUILD / "assignments"
        sources = sorted(SOURCES.glob("[0-9]*.ipynb"))
    else:
        out = BUILD / f"assignments-seed{args.seed}"
        sources = write_variant(args.seed, out / "sources")
    for source in sources:
        zip_path = assign(source, out / source.stem)
        student = out / source.stem / "student"
        if args.seed is None:
            for file in student.iterdir():
                if file.is_file():
                    shutil.copy(file, SOURCES / "student" / file.name)
        print(f"{student.parent.relative_to(ROOT)}: student/{source.name}, "
              f"autograder/{zip_path.name}")
    if args.seed is None:
        print("student notebooks copied to assignments/student/ (commit them: Colab opens them "
              "from there)")
    else:
        print(f"variant {args.seed}: distribute {out.relative_to(ROOT)}/<name>/student/, grade with "
              f"`make grade SEED={args.seed} SUBMISSIONS=...`; its sources, with solutions, are in "
              f"{(out / 'sources').relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
