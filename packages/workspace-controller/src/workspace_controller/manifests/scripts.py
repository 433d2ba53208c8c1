"""The POSIX shell scripts the helper containers run, and how they are invoked.

Helper images are small upstream tools (curl, skopeo) with a POSIX ``sh`` (busybox or
dash), not our code, so their logic lives here as scripts. Every variable input reaches a script
as a positional argument or an environment variable, never pasted into the script text: a URL,
an image reference or a file name cannot break out into shell syntax. Each script is run as
``sh -c SCRIPT <name> ARG...`` (``$0`` is the name). Delays are environment variables so the
tests can run the scripts in milliseconds.

- :data:`DOWNLOAD_SCRIPT` (``data-downloader``, curl image): arguments are ``FILE URL`` pairs;
  each URL is saved as ``$DATA_DIR/FILE``, retried ``$ATTEMPTS`` times ``$RETRY_DELAY_SECONDS``
  apart, and must answer HTTP 200 with a non-empty body. Redirects may only go to http(s). Logs
  name the file, never the URL (it may carry a signed token).
- :data:`PULL_SCRIPT` (``data-puller``/adapter pullers, skopeo image): arguments ``IMAGE DEST``;
  copies the image with skopeo (trying each docker config under ``$AUTH_DIR/*/config.json``, or
  anonymously when there is none), unpacks its layers in order and copies the image's ``/data``
  into DEST. Needs ``sh``, ``skopeo``, ``tar``, ``sed``, ``grep`` and ``cp``.

The adapter pusher is not a script: it is the model runtime's ``push`` entrypoint (see
:mod:`workspace_controller.manifests.tuning`).
"""

from __future__ import annotations

from typing import Final

__all__ = ["DOWNLOAD_SCRIPT", "PULL_SCRIPT"]

DOWNLOAD_SCRIPT: Final = r"""set -eu
cd "$DATA_DIR"
while [ "$#" -ge 2 ]; do
  file=$1
  url=$2
  shift 2
  attempt=1
  while :; do
    code=$(curl --silent --show-error --location --max-redirs 5 \
      --proto '=http,https' --proto-redir '=http,https' --connect-timeout 30 \
      --output "$file" --write-out '%{http_code}' "$url") || code=000
    if [ "$code" = 200 ] && [ -s "$file" ]; then
      echo "downloaded $file"
      break
    fi
    rm -f -- "$file"
    echo "attempt $attempt of $ATTEMPTS for $file failed (HTTP status $code)" >&2
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
      echo "giving up on $file" >&2
      exit 1
    fi
    attempt=$((attempt + 1))
    sleep "$RETRY_DELAY_SECONDS"
  done
done
"""

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
