"""ebm: energy-based networks that relax, and the learning rules that compare relaxations.

The compiled part (ebm._ebm, C++ through pybind11) holds the models, solvers, learning rules and
the tool's registry; this file re-exports it and adds the functional spellings
(``ebm.relax(model, x)`` is ``model.relax(x)``).

Conventions, as in C++: a batch is a matrix with one COLUMN per example. ``x`` is
``input_size x batch`` (``images.T`` for a NumPy array of row images), a state ``s`` is
``state_size x batch``, a target ``output_size x batch``. Gradients are sums over the batch.
Arrays of the wrong dtype are converted (copied); ``model.params`` and ``model.blocks()`` are
views on the model's own memory.

Errors are ebm.Error and its subclasses InvalidOptions, DimensionMismatch, DivergenceError
(with ``.site``: step, t, example, layer, unit, value), DataError and TrainingFault, with the
library's messages. Relaxations, estimates and training run without the GIL.
"""

try:
    import numpy  # noqa: F401  (the compiled part converts arrays with it)
except ImportError as _e:  # pragma: no cover
    raise ImportError(
        "ebm needs NumPy, which this python3 (%s) does not have: use Debian's /usr/bin/python3 "
        "(apt-get install python3-numpy; scripts/install-deps.sh does)" % __import__("sys").executable
    ) from _e

from ._ebm import *  # noqa: F401,F403
from ._ebm import (  # noqa: F401
    DataError,
    DimensionMismatch,
    DivergenceError,
    ConvHopfield,
    Error,
    EstimateSummary,
    InvalidOptions,
    LangevinSummary,
    LayeredHopfield,
    LayeredHopfieldFloat,
    PredictiveCoding,
    PythonEnergy,
    RelaxSummary,
    TrainingFault,
    XieSeung,
)
from . import _ebm
from ._ebm import __version__  # noqa: F401


def relax(model, x, s=None, options=None, **kwargs):
    """(s, summary, trace) = model.relax(x, s, options, ...); see LayeredHopfield.relax."""
    return model.relax(x, s=s, options=options, **kwargs)


def langevin(model, x, s=None, options=None, **kwargs):
    """(s, summary, trace) = model.langevin(x, s, options, ...); see LayeredHopfield.langevin."""
    return model.langevin(x, s=s, options=options, **kwargs)


def estimate(model, x, target, config=None, **kwargs):
    """(grad, summary, s) = model.estimate(x, target, config, ...): any learning rule that applies."""
    return model.estimate(x, target, config=config, **kwargs)


def make_model(kind="layered_hopfield", scalar="double", **options):
    """A model of a registered kind from its options (the [model] table of the config file)."""
    if kind == "layered_hopfield":
        return (LayeredHopfieldFloat if scalar == "float" else LayeredHopfield)(**options)
    if kind == "xie_seung":
        if scalar != "double":
            raise InvalidOptions("model.kind = \"xie_seung\" is bound in double only")
        return XieSeung(**options)
    if kind == "predictive_coding":
        if scalar != "double":
            raise InvalidOptions("model.kind = \"predictive_coding\" is bound in double only")
        return PredictiveCoding(**options)
    if kind == "conv_hopfield":
        if scalar != "double":
            raise InvalidOptions("model.kind = \"conv_hopfield\" is bound in double only")
        return ConvHopfield(**options)
    raise InvalidOptions(
        'model.kind = "%s" has no Python class (registered: %s)' % (kind, ", ".join(_ebm.kinds()["models"]))
    )


def one_hot(labels, classes=10, dtype=None):
    """Targets, classes x batch, for integer labels."""
    import numpy as np

    labels = np.asarray(labels)
    out = np.zeros((classes, labels.size), dtype=dtype or np.float64)
    out[labels, np.arange(labels.size)] = 1
    return out


class GradcheckReport(dict):
    """What ebm.gradcheck returns: a dict (passed, status, text, report, out) that is true when
    every judged check passed."""

    @property
    def passed(self):
        return self["passed"]

    def __bool__(self):
        return bool(self["passed"])

    def __str__(self):
        return self["text"]


_gradcheck = _ebm.gradcheck


def gradcheck(*args, **kwargs):
    return GradcheckReport(_gradcheck(*args, **kwargs))


gradcheck.__doc__ = _gradcheck.__doc__


def trace_array(trace):
    """(array, columns): a trace dict as one float64 array, a row per recorded step, with the
    columns step, t, dt, energy, grad_norm, dstate_1, ... (the phase is left out: see trace["phase"])."""
    import numpy as np

    columns = ["step", "t", "dt", "energy", "grad_norm"] + [
        "dstate_%d" % (k + 1) for k in range(trace["dstate"].shape[1])
    ]
    array = np.column_stack([trace[c] for c in columns[:5]] + [trace["dstate"]]).astype(np.float64)
    return array, columns


def trace_to_csv_rows(trace):
    """The rows of a trace dict (phase, step, t, dt, energy, grad_norm, dstate_1, ...), as
    TraceRecorder.csv() writes them."""
    rows = []
    for i in range(len(trace["step"])):
        rows.append(
            [trace["phase"][i], int(trace["step"][i]), trace["t"][i], trace["dt"][i], trace["energy"][i],
             trace["grad_norm"][i]] + list(trace["dstate"][i])
        )
    return rows


for _cls in (Error, InvalidOptions, DimensionMismatch, DivergenceError, DataError, TrainingFault):
    _cls.__module__ = "ebm"
del _cls
