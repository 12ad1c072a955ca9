"""The Idlens engine. No Qt here: the desktop app and the command line both drive it."""
import os

# numpy's OpenBLAS keeps its threads spinning after each call, and they fight ONNX Runtime's (or torch's) threads for the
# two cores:
# measured, a warm text query on a 10k library took 120 ms with them and 71 ms without. Our numpy products are
# small (one query against at most EXACT_MAX vectors), so one thread is enough. Must run before numpy is imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
