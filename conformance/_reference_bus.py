"""The `reference` entry point: the reference bus, wherever it is installed.

The wheel ships the repository's `reference/` package inside the kit, as
`conformance._reference`, so that installing the kit adds no top-level name as
generic as `reference` to `site-packages`. In the repository (an editable
install) it is the top-level `reference` package. `--impl=reference` resolves to
`implementation()`: the kit's module adapter over `package`, whichever it is,
labelled with the reference bus's own version rather than the kit's distribution's.
"""

from __future__ import annotations

import importlib
import types

from ._module_adapter import ModuleAdapter


def _find() -> types.ModuleType:
    try:
        return importlib.import_module("conformance._reference")
    except ModuleNotFoundError as exc:
        if exc.name != "conformance._reference":
            raise
        return importlib.import_module("reference")


package: types.ModuleType = _find()
"""The reference bus's package: `conformance._reference` when installed from the wheel, else `reference`."""


def implementation() -> ModuleAdapter:
    """The reference bus as the kit drives it, under the name `reference` and its own `__version__`."""
    adapter = ModuleAdapter(package, name="reference")
    # Shipped inside the kit, its distribution is the kit's: the version a report names is the bus's own.
    adapter.version = str(package.__version__)
    return adapter
