"""An atlas to explore: every model's feature maps of a dataset in chemiscope, offline.

For each dataset of ``reconstruction.pcovr.targets`` one chemiscope dataset holds its probed
structures, their targets and, per model, two 2-D maps: the PCovR map of paper B
(``results/analyses/pcovr.parquet``) and the first two principal components of the
composition residual H_geom = H − Ĉ pinv(Ĉ) H (Ĉ = [1 | C], the in-sample projection of
paper A v1: a picture of what is left after composition, not a score). Written as
``chemiscope.write_input`` files (``figures/atlas/{dataset}.json.gz``: open them at
chemiscope.org or with ``chemiscope.show_input``) and as a self-contained page
(``figures/atlas/{dataset}.html``: the chemiscope viewer the ``chemiscope`` wheel ships, its
stylesheet and the dataset inline, so it opens from disk with no network).
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from atomprobe.errors import DataError

VIEWER_FILES = ("sphinx/static/chemiscope.min.js", "sphinx/static/chemiscope-sphinx.css")


def residual_map(H: np.ndarray, C: np.ndarray, n_components: int = 2) -> np.ndarray:
    """Principal components of the composition residual of pooled features.

    The residual is H − Ĉ pinv(Ĉ) H with Ĉ = [1 | C], centred and divided by the square root
    of its total variance (as for PCovR), then projected by PCA.

    Parameters
    ----------
    H : ndarray of shape (n_samples, n_features)
        Pooled features (units of the model's features).
    C : ndarray of shape (n_samples, n_elements)
        Composition (dimensionless).
    n_components : int, default=2
        Components kept.

    Returns
    -------
    ndarray of shape (n_samples, n_components)
        The map's coordinates (dimensionless).

    Raises
    ------
    DataError
        The residual is zero (the features are a linear function of the composition).
    """
    design = np.column_stack([np.ones(len(C)), C])
    H = np.asarray(H, dtype=np.float64)
    residual = H - design @ (np.linalg.pinv(design) @ H)
    total = math.sqrt(float((residual**2).mean(axis=0).sum()))
    if total == 0:
        raise DataError("atlas: the composition residual is zero; nothing to map")
    return PCA(n_components=n_components, random_state=0).fit_transform(residual / total)


def atlas_properties(
    structures: pd.DataFrame,
    targets: dict[str, str],
    maps: dict[str, dict[str, np.ndarray]],
) -> dict[str, dict[str, Any]]:
    """chemiscope properties: every target (with its unit) and each model's maps.

    Parameters
    ----------
    structures : DataFrame
        The structure table rows shown, with a column per target.
    targets : dict of str to str
        Target column -> unit.
    maps : dict of str to dict of str to ndarray of shape (n_samples, 2)
        Model label -> map kind ("PCovR", "residual PC") -> coordinates, rows as ``structures``.

    Returns
    -------
    dict
        Property name -> chemiscope property (``target: structure``, values, units,
        description).
    """
    properties: dict[str, dict[str, Any]] = {
        target: {
            "target": "structure",
            "values": structures[target].to_numpy(dtype=float),
            "units": unit,
            "description": f"{target} from the structure table",
        }
        for target, unit in targets.items()
    }
    for label, by_kind in maps.items():
        for kind, coordinates in by_kind.items():
            for k in range(coordinates.shape[1]):
                properties[f"{label}: {kind} {k + 1}"] = {
                    "target": "structure",
                    "values": coordinates[:, k],
                    "description": f"{kind} {k + 1} of {label}'s pooled features",
                }
    return properties


def viewer_page(dataset: dict[str, Any], title: str) -> str:
    """A self-contained HTML page showing a chemiscope dataset offline.

    Parameters
    ----------
    dataset : dict
        A chemiscope input (``chemiscope.create_input``).
    title : str
        The page's title.

    Returns
    -------
    str
        The page: the viewer and stylesheet the chemiscope wheel ships, and the dataset, inline.
    """
    static = resources.files("chemiscope")
    script, style = (static.joinpath(f).read_text(encoding="utf-8") for f in VIEWER_FILES)
    data = json.dumps(dataset, allow_nan=True).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{style}</style>
<style>body {{ margin: 0 1rem; font-family: sans-serif; }}</style>
<script>{script}</script>
</head>
<body>
<h1 style="font-size: 1.2rem">{title}</h1>
<p>Choose the map's axes and colour in the settings of the map panel: each model has its PCovR
map and the principal components of its composition residual; a point is a structure.</p>
<div id="atlas"><div class="chemiscope-sphinx"><div class="visualizer-container">
<div class="visualizer-column-right"><div id="atlas-meta"></div><div id="atlas-map"></div></div>
<div class="visualizer-column"><div id="atlas-structure" class="visualizer-item"></div>
<div id="atlas-info" class="visualizer-info"></div></div>
</div></div></div>
<script id="atlas-data" type="application/json">{data}</script>
<script>
(async () => {{
  const text = document.getElementById("atlas-data").textContent;
  const dataset = JSON.parse(text.replace(/\\bNaN\\b/g, '"***NaN***"'),
                             (_key, value) => (value === "***NaN***" ? NaN : value));
  const config = {{ map: "atlas-map", info: "atlas-info", meta: "atlas-meta",
                   structure: "atlas-structure" }};
  window.atlas = await Chemiscope.DefaultVisualizer.load(config, dataset);
  document.body.dataset.points = String(dataset.structures.length);
  document.body.dataset.loaded = "true";
}})().catch((error) => {{ document.body.dataset.error = String(error); }});
</script>
</body>
</html>
"""
