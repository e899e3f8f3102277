"""The job files' JSON codec agrees with the standard `json` module, byte for byte."""

from __future__ import annotations

import json
import math
import random

import pytest
from air_executor.storage import jsonfile

ALPHABET = 'abcXYZ019 _-"\\/\n\t\r\b\f\x00\x1féüñ漢字🚀\u2028'


def random_document(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 7, 2**63, -(2**70), rng.randrange(-(10**6), 10**6)])
    if kind == 3:
        return rng.choice([0.0, -0.0, 0.1, 1e300, -2.5e-308, 3.14159, rng.uniform(-1e6, 1e6)])
    if kind in (4, 5):
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 12)))
    if kind in (6, 7):
        return {
            "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 6))): random_document(rng, depth + 1)
            for _ in range(rng.randrange(0, 5))
        }
    return [random_document(rng, depth + 1) for _ in range(rng.randrange(0, 5))]


def test_dumps_and_loads_match_json_on_random_documents() -> None:
    """2,000 random documents: same text as json.dumps(indent=2), and they read back equal."""
    rng = random.Random(20261124)
    for _ in range(2000):
        doc = random_document(rng)
        text = jsonfile.dumps(doc)
        assert text == json.dumps(doc, indent=2)
        assert jsonfile.loads(text) == json.loads(text)
        assert jsonfile.loads(json.dumps(doc)) == json.loads(json.dumps(doc))


def test_special_values_and_keys_match_json() -> None:
    """NaN, infinities, tuples and non-string keys are written as json writes them."""
    doc = {
        "nan": math.nan,
        "inf": math.inf,
        "-inf": -math.inf,
        7: "int key",
        2.5: "float key",
        True: "bool",
        None: "none",
        "tuple": (1, 2),
    }
    assert jsonfile.dumps(doc) == json.dumps(doc, indent=2)
    back = jsonfile.loads(jsonfile.dumps({"x": math.nan, "y": -math.inf}))
    assert math.isnan(back["x"]) and back["y"] == -math.inf


@pytest.mark.parametrize("text", ["", "   ", "{", '{"a": 1,}', "[1, 2] [3]", '{"a": tru}', '"unterminated', "nul"])
def test_bad_documents_raise_value_error(text: str) -> None:
    """Anything json.loads refuses is refused with a ValueError (how the store spots half-written files)."""
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        jsonfile.loads(text)


def test_unserialisable_values_raise_type_error() -> None:
    """An object json cannot write is refused the same way."""
    with pytest.raises(TypeError):
        jsonfile.dumps({"when": object()})
    with pytest.raises(TypeError):
        jsonfile.dumps({(1, 2): "tuple key"})


def test_bad_documents_are_value_errors_even_without_json_imported() -> None:
    """In a process that never imported `json` (the runner), a syntax error is still a ValueError."""
    import subprocess
    import sys

    from conftest import REPO

    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); from air_executor.storage import jsonfile\n"
        "for text in ['{\"a\": 1,}', '[1, 2', '{\"a\": tru}']:\n"
        "    try:\n        jsonfile.loads(text)\n    except ValueError:\n        print('refused')\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", probe, str(REPO / "shared")], capture_output=True, text=True)
    assert out.stdout.split() == ["refused"] * 3, out.stderr


@pytest.mark.parametrize("depth", [5_000, 200_000])
def test_deep_documents_are_refused_not_a_crash(depth: int) -> None:
    """A hostile document nested thousands of levels deep is a ValueError saying so, not a RecursionError."""
    with pytest.raises(ValueError, match="nested too deeply"):
        jsonfile.loads("[" * depth + "]" * depth)
