"""`python -m bench [indexing|faces|idclip] [options]`: Idlens benchmarks (default: indexing). `--help` on each."""
import sys

from bench import faces, idclip, indexing

if len(sys.argv) > 1 and sys.argv[1] == "faces":
    faces.main(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "idclip":
    idclip.main(sys.argv[2:])
else:
    if len(sys.argv) > 1 and sys.argv[1] == "indexing":
        del sys.argv[1]
    indexing.main()
