"""Static tools see relukit's API: stubtest (stubs == runtime), mypy (the README and an example type-check;
misuse is caught), jedi (completion from the source alone).

mypy's cache lives in the system temp folder (one per checkout), so only the first run pays the cold
analysis of torch (tests/typing/mypy.ini skips the parts of torch that relukit's API does not touch).
stubtest builds without a cache, reading everything but relukit as Any (tests/typing/stubtest.ini).
"""

from __future__ import annotations

import hashlib
import io
import re
import tempfile
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from relukit import stubs

mypy_api = pytest.importorskip("mypy.api")
jedi = pytest.importorskip("jedi")

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
TYPING = ROOT / "tests" / "typing"
CONFIG = TYPING / "mypy.ini"
CHECKED = (*stubs.STUBBED, "relukit.diagnostics")  # every public module whose names must be visible
CACHE = Path(tempfile.gettempdir()) / f"relukit-mypy-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"

# Each line a misuse that mypy must report, with the error code it must give.
MISUSE = """\
import torch
import relukit
import relukit.array as ra
import relukit.functional as rf
import relukit.nn as rnn
from relukit.diagnostics import scan

x = torch.ones(3)
rf.leaky_relux(x)  # attr-defined
rf.leaky_relu(x, slope=0.1)  # call-arg
rf.gelu(x, approximate=True)  # arg-type
rnn.LeakyReLU(slope=0.1)  # call-arg
rnn.Leaky()  # attr-defined
ra.mis(1.0)  # attr-defined
ra.hardtanh(1.0, min_value=0.0)  # call-overload
ra.relu("2")  # call-overload
relukit.get_activations("relu")  # attr-defined
relukit.lean(model=x)  # arg-type
scan(torch.nn.ReLU(), [x], max_batch=2)  # call-arg
"""


def readme_examples() -> str:
    """README.md's python blocks in order, after the names they use without defining (a data loader, a loss)."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "README.md has no python blocks"
    return "from typing import Any\n\nimport torch\n\nloader: Any\nloss: torch.Tensor\n\n" + "\n".join(blocks)


def test_stubtest_finds_the_stubs_equal_to_the_runtime():
    """mypy.stubtest over every public module: names, parameters, kinds and defaults as at runtime."""
    from mypy import stubtest
    from mypy.config_parser import parse_config_file
    from mypy.options import Options

    options = Options()
    options.incremental = False  # as stubtest runs (it needs the syntax trees, which a cache does not keep)
    options.config_file = str(TYPING / "stubtest.ini")
    parse_config_file(options, lambda: None, options.config_file, io.StringIO(), io.StringIO())
    with redirect_stdout(io.StringIO()):
        stubtest.build_stubs(list(CHECKED), options)
        mismatches = [e.get_description(concise=True) for module in CHECKED for e in stubtest.test_module(module)]
    assert not mismatches, "stubs disagree with the runtime:\n" + "\n".join(mismatches) + f"\n{stubs.REGENERATE}"


def test_mypy_type_checks_the_readme_and_catches_misuse(tmp_path):
    (tmp_path / "readme_examples.py").write_text(readme_examples())
    (tmp_path / "misuse.py").write_text(MISUSE)
    files = [TYPING / "api_usage.py", tmp_path / "readme_examples.py", tmp_path / "misuse.py"]
    files += [stubs.stub_path(module) for module in stubs.STUBBED]  # the stubs themselves, strictly
    out, err, _ = mypy_api.run(["--config-file", str(CONFIG), "--cache-dir", str(CACHE), *map(str, files)])

    elsewhere = [line for line in out.splitlines() if ": error:" in line and "misuse.py" not in line]
    assert not elsewhere, "mypy finds errors in the stubs, the example or README.md:\n" + "\n".join(elsewhere) + err
    reported = {(int(n), code) for n, code in re.findall(r"misuse.py:(\d+): error: .*\[([a-z-]+)\]$", out, re.M)}
    expected = {(n, line.rsplit("# ", 1)[1]) for n, line in enumerate(MISUSE.splitlines(), 1) if "  # " in line}
    assert reported == expected, out + err


def _script(code: str):
    """A jedi script over ``code`` that resolves relukit from this checkout's source (never by importing it)."""
    environment = jedi.InterpreterEnvironment()
    sys_path = [str(SRC), *(p for p in environment.get_sys_path() if p != str(SRC))]
    project = jedi.Project(ROOT, sys_path=sys_path, smart_sys_path=False)
    return jedi.Script(code, path=ROOT / "example.py", project=project, environment=environment)


def _completions(code: str) -> set[str]:
    lines = code.splitlines()
    return {c.name for c in _script(code).complete(len(lines), len(lines[-1]))}


@pytest.mark.parametrize(
    "code, expected",
    [
        ("import relukit.functional as rf\nrf.leak", {"leaky_relu"}),
        ("import relukit.nn as rnn\nrnn.Leak", {"LeakyReLU"}),
        ("import relukit.array as ra\nra.mis", {"mish", "mish_derivative"}),
        ("import relukit\nrelukit.le", {"lean"}),
    ],
)
def test_jedi_completes_generated_names(code, expected):
    assert expected <= _completions(code)


@pytest.mark.parametrize("module", CHECKED)
def test_jedi_sees_every_public_name(module):
    import importlib

    names = set(importlib.import_module(module).__all__)
    missing = names - _completions(f"import {module} as m\nm.")
    assert not missing, f"jedi does not complete {sorted(missing)} in {module}; {stubs.REGENERATE}"


def test_jedi_shows_the_signature_and_summary():
    code = "import relukit.functional as rf\nrf.leaky_relu("
    (signature,) = _script(code).get_signatures(2, len("rf.leaky_relu("))
    assert [p.name for p in signature.params] == ["input", "negative_slope", "inplace"]
    assert "negative_slope: float=0.01" in signature.to_string()
    (completion,) = [c for c in _script("import relukit.nn as rnn\nrnn.Rectif").complete(2, 10) if c.name == "Rectify"]
    assert "general rectifier" in completion.docstring()
