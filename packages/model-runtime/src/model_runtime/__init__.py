"""The model runtime: what runs inside the pods the workspace-controller creates.

Four entrypoints, ``python -m model_runtime tune|push|serve|download``:

- ``tune`` (the tuning Job's main container): LoRA/QLoRA supervised fine-tuning with trl, saving
  only the adapter to ``TrainingArguments.output_dir`` and then the completion marker;
- ``push`` (the tuning Job's sidecar): waits for the marker and pushes the adapter as a one-layer
  OCI image in Kaito's layout;
- ``serve`` (the inference pods): an HTTP server with Kaito's ``/chat`` and the OpenAI API;
- ``download`` (the tuning Job's init container): fetches the input URLs into the data
  directory, connecting only to public addresses it has resolved and checked itself.

The runtime and the controllers share no code: they meet at the pod contract (environment
variables, mount paths, port 5000, the marker file), spelled out in :mod:`model_runtime.contract`.
Heavy libraries (torch, transformers) are imported by ``tune`` and ``serve`` only, so the pusher
and the downloader start in well under a second.
"""
