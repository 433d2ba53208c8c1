# Model runtime benchmark: training tokens/s and serving latency of the tiny model on CPU; the
# QLoRA variant (bf16, bitsandbytes) runs only where CUDA is present and skips cleanly elsewhere.
.PHONY: bench-runtime
bench-runtime: sync
	$(UV) run python packages/model-runtime/bench/bench_runtime.py
