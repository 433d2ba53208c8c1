"""The POSIX shell script the image-puller containers run, and how it is invoked.

The puller image is a small upstream tool (skopeo) with a POSIX ``sh``, not our code, so its
logic lives here as a script. Every variable input reaches the script as a positional argument
or an environment variable, never pasted into the script text: an image reference or a path
cannot break out into shell syntax. It is run as ``sh -c SCRIPT <name> ARG...`` (``$0`` is the
name). Delays are environment variables so the tests can run the script in milliseconds.

- :data:`PULL_SCRIPT` (``data-puller``/adapter pullers, skopeo image): arguments ``IMAGE DEST``;
  copies the image with skopeo (trying each docker config under ``$AUTH_DIR/*/config.json``, or
  anonymously when there is none), unpacks its layers in order and copies the image's ``/data``
  into DEST. Needs ``sh``, ``skopeo``, ``tar``, ``sed``, ``grep`` and ``cp``; writes only to
  ``$TMPDIR`` (or /tmp) and DEST, as any non-root user.

The URL downloader and the adapter pusher are not scripts: they are the model runtime's
``download`` and ``push`` entrypoints (see :mod:`workspace_controller.manifests.tuning`); the
downloader has to resolve and check every address before it connects, which a curl command line
cannot do.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PULL_SCRIPT"]

PULL_SCRIPT: Final = r"""set -eu
image=$1
dest=$2
work=$(mktemp -d)
copied=0
attempt=1
while [ "$copied" = 0 ]; do
  set --
  for auth in "$AUTH_DIR"/*/config.json; do
    if [ -f "$auth" ]; then set -- "$@" "$auth"; fi
  done
  [ "$#" -gt 0 ] || set -- ""
  for auth in "$@"; do
    rm -rf "$work/image"
    if [ -n "$auth" ]; then
      if skopeo --insecure-policy copy --dest-decompress --authfile "$auth" \
        "docker://$image" "dir:$work/image"; then copied=1; break; fi
    else
      if skopeo --insecure-policy copy --dest-decompress \
        "docker://$image" "dir:$work/image"; then copied=1; break; fi
    fi
  done
  if [ "$copied" = 0 ]; then
    echo "attempt $attempt of $ATTEMPTS to copy $image failed" >&2
    if [ "$attempt" -ge "$ATTEMPTS" ]; then exit 1; fi
    attempt=$((attempt + 1))
    sleep "$RETRY_DELAY_SECONDS"
  fi
done
layers=$(tr -d ' \t\r\n' < "$work/image/manifest.json" \
  | sed -n 's/.*"layers":\[\([^]]*\)].*/\1/p' \
  | grep -o 'sha256:[0-9a-f]*' | sed 's/^sha256://')
mkdir -p "$work/rootfs"
for layer in $layers; do
  if tar -tf "$work/image/$layer" | grep -q '^\(\./\)\{0,1\}data/'; then
    tar -xf "$work/image/$layer" -C "$work/rootfs" --no-same-owner --no-same-permissions \
      --no-anchored --wildcards 'data/*'
  fi
done
if [ ! -d "$work/rootfs/data" ]; then
  echo "image $image has no /data directory" >&2
  exit 1
fi
mkdir -p "$dest"
cp -R "$work/rootfs/data/." "$dest/"
rm -rf "$work"
echo "copied /data of $image into $dest"
"""
