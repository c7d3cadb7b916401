# main.py
# The guide's Step 4 on pico-ioc itself (pip install pico-ioc==2.5.2). Run it as
# `python main.py` from this directory or `python examples/guide_pico_ioc/main.py`.
# Imports are kept in the guide's order, after the path set-up below, hence:
# ruff: noqa: E402, F401, I001
import sys
from pathlib import Path

# Not in the guide: make `app` (beside this file) and, in a checkout where the
# project is not installed, the repository (two levels up) importable however the
# script is started.
_here = Path(__file__).resolve().parent
sys.path.insert(0, str(_here))
sys.path.append(str(_here.parent.parent))

import asyncio
import pico_ioc.event_bus  # Import the module to be scanned
from pico_ioc import init, component

# Adjust imports based on your actual project structure
# Example assumes services are in ./app/services/ and events in ./app/events/
from app.services.user_service import UserService
from app.services.email_service import EmailService  # Need these for scanning
from app.services.analytics_service import AnalyticsService
from app.events import UserCreatedEvent

# Not in the guide: UserService asks for a `Database`, so the mock must be one,
# or the container has nothing to inject.
from app.services.user_service import Database


# Mock Database for runnable example
class MockUser:
    id: int = 1
    email: str = "test@example.com"


@component
class MockDatabase(Database):  # the guide has `class MockDatabase:`; see the import above
    def save(self, email: str) -> MockUser:
        print(f"DB: Saving {email}")
        return MockUser()


container = init(
    modules=[
        "app.events",  # Contains UserCreatedEvent definition
        "app.services.user_service",
        "app.services.email_service",
        "app.services.analytics_service",
        pico_ioc.event_bus,  # Don't forget this!
        __name__,  # Include current module for MockDatabase
    ]
)


async def run_example():
    user_service = await container.aget(UserService)
    print("Creating user...")
    await user_service.create_user("alice@example.com")
    print("User creation initiated (event published).")

    # Give background tasks (like analytics) a moment to run in this example
    await asyncio.sleep(0.1)

    print("Cleaning up...")
    await container.cleanup_all_async()


if __name__ == "__main__":
    asyncio.run(run_example())

# --- Example Output ---
# Creating user...
# DB: Saving alice@example.com
# EMAIL: Sending welcome email to test@example.com
# ANALYTICS: Tracking event for user 1
# User creation initiated (event published).
# Cleaning up...
