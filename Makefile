# Two commands on a fresh Debian or Raspberry Pi OS machine:
#   make run    set everything up (system packages included), play a day in the robot's life in the
#               simulator at 60x, then leave the robot running with its console
#   make test   set everything up and run the test suite
VENV  ?= .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.carebot-installed

.PHONY: run test setup lint typecheck check bench diagram docs clean

run: $(STAMP)
	$(BIN)/carebot sim --scenario scenarios/day-in-the-life.yaml

# Two workers: the suite mostly waits on real time (speech played, outages, timers); see tests/conftest.py
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	./scripts/setup.sh $(VENV)
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check robot hardware tests

typecheck: $(STAMP)
	$(BIN)/mypy robot hardware

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/carebot bench loop --seconds 60 --json
	$(BIN)/carebot bench servo --json

docs: $(STAMP)
	$(BIN)/python scripts/print_sheets.py

diagram: $(STAMP)
	$(BIN)/python -m robot.diagram > docs/state-machine.md

clean:
	rm -rf $(VENV) .state .pytest_cache .hypothesis
