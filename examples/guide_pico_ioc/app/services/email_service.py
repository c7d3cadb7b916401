# services/email_service.py
# Imports are kept as the guide writes them, hence:
# ruff: noqa: I001
import asyncio  # For simulation
from pico_ioc import component
from pico_ioc import AutoSubscriberMixin, subscribe
from ..events import UserCreatedEvent


@component
class EmailService(AutoSubscriberMixin):

    @subscribe(UserCreatedEvent)
    async def on_user_created(self, event: UserCreatedEvent):
        # This method is automatically called when UserCreatedEvent is published
        print(f"EMAIL: Sending welcome email to {event.email}")
        await self.send_email(event.email, "Welcome!")

    async def send_email(self, to, body):
        await asyncio.sleep(0.01)  # Simulate sending
        pass
