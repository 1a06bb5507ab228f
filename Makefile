# Entry points; each target is one of the scripts, which do their own set-up.
.PHONY: run test chaos bench

run:
	scripts/run

test:
	scripts/test

chaos:
	scripts/chaos

# e.g. make bench BENCH_ARGS="--devices 10000 --seconds 60 --no-rules"
bench:
	.venv/bin/python -m bench.ingest $(BENCH_ARGS)
