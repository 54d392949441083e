.PHONY: run test bench lint
run:
	bash scripts/run.sh
test:
	bash scripts/test.sh
bench:
	.venv/bin/python bench/api_crud.py
lint:
	.venv/bin/ruff check metacrm tests bench && .venv/bin/ruff format --check metacrm tests bench
