"""The conformance suite: one module per section of SPEC.md."""
