"""Packages shaped like pico-ioc whose claims the kit must read right (tests/test_completeness.py)."""
