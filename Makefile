# make demo: the main job on a fresh clone.  make test: lint + the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint format bench clean browser native stubs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned, so that the CPU build from the configured index is used (a bare `torch` pulls CUDA).
	$(BIN)/python -m pip install -q torch==2.13.0

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $@

# The native CPU kernels (C++ generated from the catalog), compiled once per machine into ~/.cache/relukit;
# a build failure is reported here, and relukit then runs its Python path (relukit.backend() says which).
native: $(STAMP)
	$(BIN)/python -c "from relukit._ops import native; print(native.build())" || echo "relukit: native kernels not built; the Python path will run"

# The tests also need the onnx extra (export tests) and the gpu extra (triton, ~1 GB: relukit.kernels
# runs under its interpreter without a GPU). make demo does without them.
# torchvision (tests/test_real_models.py, benchmarks/vision_models.py): the release built against the pinned
# torch, without its dependencies, since it pins torch and would pull the CUDA build. Its compiled ops do not
# load beside a CPU torch; benchmarks/vision_models.py imports the (pure-Python) model definitions anyway.
TORCHVISION := torchvision==0.28.0

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[dev,onnx,gpu]"
	$(BIN)/python -m pip install -q --no-deps "$(TORCHVISION)"
	touch $@

demo: native
	$(BIN)/relukit study --quick --out relukit-report
	@echo "open relukit-report/index.html (figures and results.json are next to it)"

# The report's browser test needs Debian's chromium; install it where it is missing (CI runs as root).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; }

test: $(TEST_STAMP) browser native
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -c "import relukit; print('relukit backend:', relukit.backend())"
	$(BIN)/python -m pytest -n 2 -q
	# the fallback path (no compiler, failed build): the tests of the natively accelerated parts once more without them
	RELUKIT_NATIVE=0 $(BIN)/python -m pytest -n 2 -q tests/test_piecewise.py tests/test_functional.py tests/test_packing.py \
		tests/test_sparse.py tests/test_diagnostics_tally.py tests/test_mish.py tests/test_batchnorm_act.py

bench: native
	$(BIN)/relukit bench --ops relu,leaky_relu,relu6,hardtanh --sizes 2^20,2^24
	$(BIN)/python benchmarks/memory_models.py --batch 8 --size 112 --repeats 3 --rss --json benchmarks/results/memory_models.json
	$(BIN)/python benchmarks/memory_models.py --models cspdarknet53 --abn --batch 8 --size 224 --repeats 3 --rss \
		--json benchmarks/results/memory_models_abn.json
	$(BIN)/python benchmarks/memory_models.py --models resnet18,vgg11_bn,mobilenet_v2,densenet121 --abn --sparse \
		--batch 8 --size 112 --repeats 5 --rss --json benchmarks/results/memory_models_abn_torchvision.json
	$(BIN)/python benchmarks/memory_models.py --models resnet18,vgg11_bn,mobilenet_v2,densenet121 --abn --sparse \
		--batch 8 --size 112 --repeats 3 --rss --malloc fixed --json benchmarks/results/memory_models_abn_torchvision_fixed_malloc.json
	# timm (vit_tiny) without its dependencies: it pins torch/torchvision like torchvision does
	$(BIN)/python -m pip install -q --no-deps "$(TORCHVISION)" timm==1.0.29
	$(BIN)/python benchmarks/memory_models.py --models efficientnet_b0,vit_tiny --bits 3 --batch 8 --size 224 --repeats 5 --rss --json benchmarks/results/memory_models_fewbit.json
	$(BIN)/python benchmarks/memory_models.py --models efficientnet_b0,vit_tiny --bits 3 --batch 8 --size 224 --repeats 3 --rss \
		--malloc fixed --json benchmarks/results/memory_models_fewbit_fixed_malloc.json

# Type stubs (src/relukit/*.pyi) and docs/api.md, from the runtime; a test fails when they are stale.
stubs: $(STAMP)
	$(BIN)/python -m relukit.stubs
	$(BIN)/ruff format --check src/relukit

format: $(TEST_STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

clean:
	rm -rf $(VENV) relukit-report .pytest_cache .ruff_cache .hypothesis
