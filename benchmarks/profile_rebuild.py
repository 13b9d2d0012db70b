"""cProfile of an incremental rebuild: python benchmarks/profile_rebuild.py

Copies seeds/ and builds it in a temporary folder, appends a sentence to the
smallest document, then profiles reopening the engine (stale -> rebuild ->
load) and prints the cumulative time of the pipeline's stages.
"""

import cProfile
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.models.embed import Embedder  # noqa: E402
from qa.engine import Engine  # noqa: E402

STAGES = ("engine.py:rebuild", "build.py:build", "chunk.py:chunk_document", "segmenter.py:segment", "embed_cache.py:embed",
          "embed.py:encode", "mean_pool.py:encode", "embed.py:count_tokens", "build_dirs.py:publish", "store.py:load", "build.py:bm25_tokenize",
          "build.py:dense_index", "load.py:load_folder")


def main() -> None:
    e = Embedder()
    e.model
    with tempfile.TemporaryDirectory() as tmp:
        corpus, index = Path(tmp) / "docs", Path(tmp) / "index"
        shutil.copytree(ROOT / "seeds", corpus)
        Engine(corpus=corpus, index_dir=index, embedder=e)
        with open(corpus / "000_ca9353bd9b097081.txt", "a", encoding="utf-8") as f:
            f.write("\n\nA profiled edit: the board met again in spring.\n")
        pr = cProfile.Profile()
        t = time.perf_counter()
        pr.enable()
        Engine(corpus=corpus, index_dir=index, embedder=e)
        pr.disable()
        print(f"incremental rebuild + load: {time.perf_counter() - t:.2f} s (under cProfile)")
    for fn, (_, _, _, ct, _) in sorted(pstats.Stats(pr).stats.items(), key=lambda kv: -kv[1][3]):
        name = f"{Path(fn[0]).name}:{fn[2]}"
        if name in STAGES:
            print(f"{ct:7.2f} s  {name}")


if __name__ == "__main__":
    main()
