"""The package's main demo (examples/demo_moons_checkerboard.py) runs end to end."""

import importlib.util
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo_moons_checkerboard.py"


def load_demo():
    spec = importlib.util.spec_from_file_location("demo_moons_checkerboard", DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_quick_run(tmp_path, capsys):
    metrics = load_demo().main(["--quick", "--out", str(tmp_path)])

    figure = tmp_path / "demo_moons_checkerboard.png"
    assert Path(metrics["figure"]) == figure
    assert figure.is_file() and figure.stat().st_size > 10_000
    assert "classifier accuracy" in capsys.readouterr().out
    # The inverse is the same fixed-step RK4 ODE run backwards, so T^-1(T(x)) - x is
    # the solver's error, not the training's: about 1e-6 in float32 for the quick
    # run's smooth flow (1e-4 for the sharper flow of the full run); 1e-3 is far
    # below the data's scale (unit squares) and catches a broken inverse.
    assert metrics["inversion_error"] < 1e-3
    # Even the quick run's rough flow brings T(X_p) much closer to X_q than X_p
    # was: MMD^2 falls from about 2e-2 to the level of the noise floor (|.| < 1e-3
    # on 500 rows per side), so "after < before" has a wide margin.
    assert metrics["mmd2_after"] < metrics["mmd2_before"]
