"""Launch Idlens: `python main.py` opens the desktop app (the same as `idlens` with no arguments); with arguments it
is the command line (`python main.py search "a dog"`), so the packaged executable serves both."""
import sys

from app.cli import main

if __name__ == "__main__":
    main(sys.argv[1:])
