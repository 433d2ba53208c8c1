"""The POSIX shell scripts the helper containers run, and how they are invoked.

Helper images are small upstream tools (curl, skopeo, oras) with a POSIX ``sh`` (busybox or
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
- :data:`PUSH_SCRIPT` (``adapter-pusher``, oras image): waits for
  ``$OUTPUT_DIR/fine_tuning_completed.txt``, then pushes ``adapter_config.json`` and
  ``adapter_model.safetensors`` as a one-layer OCI image (layer ``data/<file>``, gzip, a minimal
  image config whose ``diff_ids`` name the uncompressed layer, manifest annotation
  ``sh.kaito.model.name``) to ``$IMAGE``. It watches the trainer through the pod's shared process
  namespace: once a process whose command line contains ``$TRAINER_MATCH`` has been seen and is
  gone without the marker, the training failed and the pusher exits 1, so the pod (and the Job)
  fails instead of waiting forever.
"""

from __future__ import annotations

from typing import Final

__all__ = ["DOWNLOAD_SCRIPT", "PULL_SCRIPT", "PUSH_SCRIPT"]

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

PUSH_SCRIPT: Final = r"""set -eu
marker="$OUTPUT_DIR/$MARKER"
trainer_running() {
  for cmdline in /proc/[0-9]*/cmdline; do
    if tr '\000' ' ' < "$cmdline" 2>/dev/null | grep -qF -- "$TRAINER_MATCH"; then
      return 0
    fi
  done
  return 1
}
seen=0
while [ ! -f "$marker" ]; do
  if trainer_running; then
    seen=1
  elif [ "$seen" = 1 ] && [ ! -f "$marker" ]; then
    echo "the trainer exited without writing $MARKER: nothing to push" >&2
    exit 1
  fi
  sleep "$POLL_SECONDS"
done
work=$(mktemp -d)
mkdir "$work/data"
for file in adapter_config.json adapter_model.safetensors; do
  if [ ! -f "$OUTPUT_DIR/$file" ]; then
    echo "$OUTPUT_DIR/$file is missing" >&2
    exit 1
  fi
  cp "$OUTPUT_DIR/$file" "$work/data/$file"
done
cd "$work"
tar -cf layer.tar data
diff_id=$(sha256sum layer.tar | cut -d ' ' -f 1)
gzip -9 layer.tar
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$diff_id" > config.json
attempt=1
until oras push --registry-config "$DOCKER_CONFIG/config.json" \
  --config config.json:application/vnd.oci.image.config.v1+json \
  --annotation "sh.kaito.model.name=$PRESET_NAME" \
  "$IMAGE" layer.tar.gz:application/vnd.oci.image.layer.v1.tar+gzip; do
  echo "attempt $attempt of $ATTEMPTS to push $IMAGE failed" >&2
  if [ "$attempt" -ge "$ATTEMPTS" ]; then exit 1; fi
  attempt=$((attempt + 1))
  sleep "$RETRY_DELAY_SECONDS"
done
echo "pushed the adapter to $IMAGE"
"""
