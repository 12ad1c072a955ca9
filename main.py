"""Launch the Idlens desktop app: `python main.py` (the same as `idlens` with no arguments)."""
from app.cli import main

if __name__ == "__main__":
    main([])
