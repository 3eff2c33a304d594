"""`python -m services.enrich`: run the enrich service."""

import asyncio

from fullcircle.db import migrations_folder
from fullcircle.service import run_service
from services.enrich.app import setup
from services.enrich.settings import EnrichSettings

if __name__ == "__main__":
    asyncio.run(run_service("enrich", EnrichSettings(), migrations_folder(__file__), setup))
