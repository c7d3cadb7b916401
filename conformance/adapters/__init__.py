"""Adapters for third-party event buses, shipped with the kit: `--impl=bubus`, `--impl=pyee`, `--impl=blinker`.

Each module exposes `conformance_implementation()`, claims what its library
honestly supports, and has an expectation file in `conformance/expectations/`
listing the library's real deviations. What a library's API cannot express is
not a deviation: those tests get the verdict *unsupported*.
"""
