"""The package's exception and warning classes, in one place (imports nothing from the package).

Every module may import them without cycles; :mod:`xdtutorial.data` and :mod:`xdtutorial.em`
re-export the ones they raise, and ``helpers`` re-exports them all.  The warnings are
``UserWarning`` subclasses, so a student can filter them by class.
"""

from __future__ import annotations


class DataUnavailableError(OSError):
    """The data file is not on disk and could not be downloaded."""


class DataChecksumError(ValueError):
    """A data file on disk (or just downloaded) does not have the pinned SHA-256."""


class DataFormatError(ValueError):
    """A data file does not follow the documented format; the message names the file and line."""


class EMConvergenceWarning(UserWarning):
    """A fit did not converge: ``max_iter`` reached, a saddle point, or a fit that never left its start.

    The result is returned with ``converged=False``; the message says which.
    """


class ImplausibleVelocityWarning(UserWarning):
    """A velocity no Galactic object can have (``|v| > MAX_PLAUSIBLE_SPEED`` km/s): check the units."""


class EMFailure(FloatingPointError):
    """EM could not continue: a component emptied, a width left the float range, or a step was not finite.

    Raised by the fitting routines in place of a bare ``FloatingPointError`` (it is a subclass, so
    older ``except FloatingPointError`` code still catches it).  Callers that run many fits (the
    survey) catch this class and nothing wider, so that bad *input*, which raises ``ValueError`` or
    ``TypeError``, is never mistaken for a failed fit.

    Attributes
    ----------
    params : numpy.ndarray or None
        The parameter vector at which EM failed (a read-only copy), when known.
    """

    def __init__(self, message: str, params: object = None) -> None:
        super().__init__(message)
        if params is not None:
            import numpy as np

            params = np.array(params, dtype=float, copy=True)
            params.setflags(write=False)
        self.params = params
