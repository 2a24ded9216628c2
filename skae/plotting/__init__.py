"""Plots in scikit-learn's Display style: ``Display.from_estimator(...)`` then ``.plot()``.

Each Display stores the computed values (so it can be re-plotted without recomputing)
and, after ``plot``, the matplotlib handles ``ax_``, ``figure_`` and the artists it drew.
As in scikit-learn, ``plot`` and ``from_estimator`` pass extra keyword arguments to the
matplotlib call that draws the data, and set no title (``display.ax_.set_title(...)``).
matplotlib is imported only when plotting (``pip install 'skae[plot]'``); nothing here
needs torch until an estimator is inspected.

- :class:`LossCurveDisplay`: training and validation loss per epoch.
- :class:`ReconstructionErrorDisplay`: histogram of anomaly scores with the threshold.
- :class:`LatentSpaceDisplay`: 2-D latent codes coloured by label.
- :class:`ReconstructionDisplay`: original images above their reconstructions.
- :class:`DecoderGridDisplay`: images decoded from a grid over a 2-D latent plane.
"""

from ._common import require_matplotlib

require_matplotlib()  # ImportError naming the 'plot' extra, not a bare ModuleNotFoundError

from ._common import format_score  # noqa: E402
from ._curves import LossCurveDisplay  # noqa: E402
from ._images import DecoderGridDisplay, ReconstructionDisplay  # noqa: E402
from ._latent import LatentSpaceDisplay  # noqa: E402
from ._scores import ReconstructionErrorDisplay  # noqa: E402

__all__ = [
    "DecoderGridDisplay",
    "LatentSpaceDisplay",
    "LossCurveDisplay",
    "ReconstructionDisplay",
    "ReconstructionErrorDisplay",
    "format_score",
]
