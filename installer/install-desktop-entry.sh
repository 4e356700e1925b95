#!/bin/sh
# Add the unpacked bundle to the desktop menu of the current user (Linux):
#   dist/matlab-gui/install-desktop-entry.sh
# It writes ~/.local/share/applications/matlab-gui.desktop pointing at this folder.
set -eu
BUNDLE=$(cd "$(dirname "$0")" && pwd)
APPS=${XDG_DATA_HOME:-$HOME/.local/share}/applications
mkdir -p "$APPS"
sed "s|@BUNDLE@|$BUNDLE|g" "$BUNDLE/matlab-gui.desktop.in" > "$APPS/matlab-gui.desktop"
echo "added $APPS/matlab-gui.desktop"
