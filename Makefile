# Inside CNNs. `make lectures` runs the course, `make test` runs every test.
# Both create .venv on first use; nothing outside this folder is changed, except that as root on a
# Debian machine the Fashion-MNIST package is installed with apt-get (offline data for the notebooks).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: lectures test test-full lab slides bench checkpoints spread lint sync clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's dataset-fashion-mnist (offline Fashion-MNIST)"; \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
	    || echo "apt-get failed: Fashion-MNIST will be downloaded by torchvision when online"; \
	fi
	@touch $(STAMP)

lectures: $(STAMP)  ## execute every notebook into build/, then the course book build/book/html/index.html; notebooks/ is never modified
	$(PY) -m lecture_utils.course.build lectures

DEV_STAMP := $(VENV)/.dev-installed
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps "torchattacks>=3.5"
	@touch $(DEV_STAMP)

test: $(DEV_STAMP)  ## unit tests + nbval over every notebook (fast mode on CPU)
	$(PY) -m pytest

test-full: $(STAMP)  ## the notebook validation in full mode (local CUDA)
	LECTURE_MODE=full $(PY) -m pytest notebooks

lab: $(STAMP)  ## JupyterLab on notebooks/
	$(VENV)/bin/jupyter lab notebooks

slides: $(STAMP)  ## a reveal.js deck per notebook in build/
	$(PY) -m lecture_utils.course.build slides

bench: $(STAMP)  ## notebook run times, peak memory, and fit's throughput against a bare loop
	$(PY) -m lecture_utils.course.bench

checkpoints: $(STAMP)  ## (authors) retrain every fast-mode model and ship it in data/checkpoints/ (+ manifest)
	$(PY) -m lecture_utils.course.checkpoints build

spread: $(STAMP)  ## (authors) every notebook with seeds 0, 1, 2: data/seed_spread.csv (fragile verdicts)
	$(PY) -m lecture_utils.course.spread

sync: $(STAMP)  ## (authors) Colab badge + setup cell and slide tags in every notebook
	$(PY) -m lecture_utils.course.colab sync notebooks/*.ipynb
	$(PY) -m lecture_utils.course.slides tag notebooks/*.ipynb

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf build .pytest_cache
