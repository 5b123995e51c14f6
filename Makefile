# VCFDiagnosis: the two commands of the README, from a clean clone with Python 3.11+, pip, make and git.
#   make demo   create .venv, install, run a synthetic patient through the pipeline (headless)
#   make test   create .venv, install, run every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("VCFDiagnosis needs Python 3.11+" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,stats,dask,web,dicom]"
	@$(BIN)/python -c 'import slicer; assert hasattr(slicer, "vtkMRMLScene"), "slicer is not slicer-core"'
	# bytecode for the module's own code now, as a non-editable install has it: where PYTHONDONTWRITEBYTECODE is
	# set, every command would otherwise compile the modules it imports again
	$(BIN)/python -m compileall -q VCFDiagnosis >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	env -u DISPLAY $(BIN)/vcfdiagnosis demo --out demo-output --force

test: $(STAMP)
	env -u DISPLAY $(BIN)/python -m pytest

bench: $(STAMP)
	for script in Testing/Benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check VCFDiagnosis Testing Utilities

clean:
	rm -rf $(VENV) demo-output build *.egg-info
