"""Regenerate the sample spreadsheets in this directory: ``python data/make_samples.py``."""

from pathlib import Path

from drframe._files._samples import write_samples

if __name__ == "__main__":
    for path in write_samples(Path(__file__).parent):
        print(f"wrote {path}")
