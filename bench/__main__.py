"""`python -m bench [--json] [...]`: Idlens benchmarks. Prints the machine, the versions, then each figure."""
from bench.indexing import main

main()
