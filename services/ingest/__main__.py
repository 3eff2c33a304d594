"""`python -m services.ingest`: run the ingest service."""

import asyncio

from fullcircle.db import migrations_folder
from fullcircle.service import run_service
from services.ingest.app import setup
from services.ingest.settings import IngestSettings

if __name__ == "__main__":
    asyncio.run(run_service("ingest", IngestSettings(), migrations_folder(__file__), setup))
