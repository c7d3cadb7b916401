"""The `reference` entry point: the reference bus, wherever it is installed.

The wheel ships the repository's `reference/` package inside the kit, as
`conformance._reference`, so that installing the kit adds no top-level name as
generic as `reference` to `site-packages`. In the repository (an editable
install) it is the top-level `reference` package. `--impl=reference` resolves to
`package`, whichever it is.
"""

from __future__ import annotations

import importlib
import types


def _find() -> types.ModuleType:
    try:
        return importlib.import_module("conformance._reference")
    except ModuleNotFoundError as exc:
        if exc.name != "conformance._reference":
            raise
        return importlib.import_module("reference")


package: types.ModuleType = _find()
"""The reference bus's package: `conformance._reference` when installed from the wheel, else `reference`."""
