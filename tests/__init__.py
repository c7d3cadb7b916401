"""The project's own tests: the kit checks itself, the reference, and the buses it must catch."""
