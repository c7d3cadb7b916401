# services/analytics_service.py
# Imports are kept as the guide writes them, hence:
# ruff: noqa: I001
import asyncio  # For simulation
from pico_ioc import component
from pico_ioc import AutoSubscriberMixin, subscribe, ExecPolicy
from ..events import UserCreatedEvent


@component
class AnalyticsService(AutoSubscriberMixin):

    @subscribe(UserCreatedEvent, policy=ExecPolicy.TASK)
    async def on_user_created(self, event: UserCreatedEvent):
        # This handler is non-critical, so we run it as a
        # "fire and forget" task that doesn't block the publisher.
        print(f"ANALYTICS: Tracking event for user {event.user_id}")
        await self.track(event.user_id)

    async def track(self, user_id):
        await asyncio.sleep(0.02)  # Simulate tracking
        pass
