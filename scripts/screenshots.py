"""Copy the browser tests' screenshots into docs/images/ for the README.

Run after the browser suite (``make test-browser``) has written ``test-artifacts/``:

    python scripts/screenshots.py [--artifacts test-artifacts] [--out docs/images]

Each image is scaled down to at most ``--width`` pixels wide (never up) and cut to at most
``--max-height`` pixels from the top, so a long report page stays a sensible README picture.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]

#: test artefact -> README image
IMAGES = {
    "report-summary.png": "report-summary.png",
    "report-03_department_comparison.png": "report.png",
    "lab-dashboard.png": "lab-dashboard.png",
}


def fit(image: Image.Image, width: int, max_height: int) -> Image.Image:
    """``image`` scaled to at most ``width`` wide, then cut to ``max_height`` from the top."""
    if image.width > width:
        height = round(image.height * width / image.width)
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    if image.height > max_height:
        image = image.crop((0, 0, image.width, max_height))
    return image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=Path, default=REPO / "test-artifacts")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--max-height", type=int, default=1800)
    args = parser.parse_args(argv)

    missing = [name for name in IMAGES if not (args.artifacts / name).is_file()]
    if missing:
        print(
            f"missing in {args.artifacts}: {', '.join(missing)}; run `make test-browser` first",
            file=sys.stderr,
        )
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for source, target in IMAGES.items():
        with Image.open(args.artifacts / source) as image:
            picture = fit(image.convert("RGB"), args.width, args.max_height)
        picture.save(args.out / target, optimize=True)
        print(f"{args.out / target}: {picture.width}x{picture.height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
