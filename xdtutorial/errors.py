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
