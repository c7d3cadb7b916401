# services/user_service.py
# Imports are kept as the guide writes them, hence:
# ruff: noqa: I001
from pico_ioc import component
from pico_ioc import EventBus

# Differs from the guide, which writes `from .events import ...`: this module is
# app/services/user_service.py, so the events module is one package up, where
# the guide's other two services import it from.
from ..events import UserCreatedEvent


# Assume Database is defined elsewhere
class Database:
    def save(self, email: str) -> 'User': ...  # Mock


class User:
    id: int
    email: str


@component
class UserService:
    def __init__(self, db: Database, bus: EventBus):
        self.db = db
        self.bus = bus  # Just inject the bus

    async def create_user(self, email: str):
        # 1. Business Logic
        user = self.db.save(email)  # Assume save returns a User object with id and email

        # 2. Publish Event
        # We just shout "this happened!" and don't care who is listening.
        event = UserCreatedEvent(user_id=user.id, email=user.email)
        await self.bus.publish(event)

        return user
