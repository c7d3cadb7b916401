"""The guide's example application (pico-ioc's "Advanced: The Event Bus", Steps 1-4)."""
