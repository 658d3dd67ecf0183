#!/bin/sh
# Print the commands of a marked block of a Markdown file: the fenced block
# that follows the line `<!-- fresh: NAME -->`. Fails when there is none, so
# a renamed or removed block fails the test that runs it.
#   readme-block.sh FILE NAME
set -eu
awk -v want="<!-- fresh: $2 -->" '
    $0 == want { armed = 1; next }
    armed && /^```/ { if (inside) exit; inside = 1; next }
    inside { print; found = 1 }
    END { if (!found) exit 1 }' "$1" ||
    { echo "readme-block.sh: no block <!-- fresh: $2 --> in $1" >&2; exit 1; }
