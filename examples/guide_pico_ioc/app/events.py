# events.py
# Imports are kept as the guide writes them, hence:
# ruff: noqa: I001
from dataclasses import dataclass
from pico_ioc import Event


@dataclass
class UserCreatedEvent(Event):
    user_id: int
    email: str
