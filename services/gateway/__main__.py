"""`python -m services.gateway`: run the public gRPC gateway."""

import asyncio

from fullcircle.db import migrations_folder
from fullcircle.service import run_service
from services.gateway.app import setup
from services.gateway.settings import GatewaySettings

if __name__ == "__main__":
    asyncio.run(run_service("gateway", GatewaySettings(), migrations_folder(__file__), setup))
