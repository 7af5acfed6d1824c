"""Small example data sets shipped with cyem.

``galaxies.csv``
    Velocities of 82 galaxies in the Corona Borealis region (Roeder 1990),
    in 1000 km/s, copied from the R package MASS (``MASS::galaxies / 1000``).
    The classic test case for choosing the number of mixture components.
``galaxies_mclust.csv``
    R mclust's BIC and log-likelihood on those data for G = 1..9 components
    and the univariate models "E" and "V", written by
    ``scripts/mclust_galaxies.R``: the reference cyem's ``select`` is tested
    against.

Each file begins with ``#`` comment lines that record its provenance.
"""

import csv
from importlib import resources

import numpy as np

__all__ = ["load_galaxies", "load_galaxies_mclust"]


def _open(name):
    return resources.files(__name__).joinpath(name).open("r", encoding="utf-8")


def _data_lines(handle):
    return (line for line in handle if line.strip() and not line.startswith("#"))


def load_galaxies():
    """Velocities of 82 galaxies (Roeder 1990), in 1000 km/s.

    Returns
    -------
    velocity : ndarray of shape (82,), float64
        In the order of ``MASS::galaxies``; from 9.172 to 34.279.

    Notes
    -----
    As in MASS, the 78th value 26.690 is a typo for 26.960 in the original
    listing; it is kept so that results match MASS and mclust.

    Examples
    --------
    >>> from cyem.datasets import load_galaxies
    >>> v = load_galaxies()
    >>> v.shape, float(v.min()), float(v.max())
    ((82,), 9.172, 34.279)
    """
    with _open("galaxies.csv") as handle:
        rows = list(csv.reader(_data_lines(handle)))
    if rows[0] != ["velocity"]:
        raise RuntimeError("galaxies.csv: unexpected header")   # a packaging error
    return np.array([float(row[0]) for row in rows[1:]])


def _number(text):
    """R writes a missing number as NA."""
    return float("nan") if text == "NA" else float(text)


def load_galaxies_mclust():
    """mclust's results on the galaxies data (see ``scripts/mclust_galaxies.R``).

    Returns
    -------
    table : list of dict
        One dict per (G, model) with keys ``n_components`` (int), ``model``
        ('E' or 'V'), ``covariance_type`` (cyem's equivalent: 'tied' or
        'full'), ``n_parameters`` (int), ``bic_mclust`` (float, mclust's sign:
        higher is better; NaN where mclust gave no fit), ``log_likelihood``
        (float) and ``chosen`` (bool, the model mclust selects).

    Examples
    --------
    >>> from cyem.datasets import load_galaxies_mclust
    >>> rows = load_galaxies_mclust()
    >>> [(r["n_components"], r["model"]) for r in rows if r["chosen"]]
    [(4, 'V')]
    >>> sorted({r["model"] for r in rows})
    ['E', 'V']
    """
    with _open("galaxies_mclust.csv") as handle:
        reader = csv.DictReader(_data_lines(handle))
        table = []
        for row in reader:
            table.append({
                "n_components": int(row["n_components"]),
                "model": row["model"],
                "covariance_type": row["covariance_type"],
                "n_parameters": int(row["n_parameters"]),
                "bic_mclust": _number(row["bic_mclust"]),
                "log_likelihood": _number(row["log_likelihood"]),
                "chosen": row["chosen"] == "TRUE",
            })
    return table
