#!/usr/bin/env bash
# Builds dist/idlens/ (a standalone folder with the `idlens` executable) and installs a desktop entry for it.
#   bash packaging/build.sh            build
#   bash packaging/build.sh --install  build, then add Idlens to the desktop's application menu (~/.local)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-build
.venv-build/bin/pip install -q . pyinstaller
.venv-build/bin/pyinstaller --noconfirm --distpath dist --workpath build/pyinstaller packaging/idlens.spec
if [ "${1:-}" = "--install" ]; then
  apps="$HOME/.local/share/applications"; icons="$HOME/.local/share/icons/hicolor/scalable/apps"
  mkdir -p "$apps" "$icons"
  sed "s|^Exec=idlens|Exec=$PWD/dist/idlens/idlens|" resources/idlens.desktop > "$apps/idlens.desktop"
  cp resources/idlens.svg "$icons/idlens.svg"
  echo "installed: $apps/idlens.desktop"
fi
echo "built: dist/idlens/idlens"
