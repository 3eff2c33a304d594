"""`python -m services.features`: run the features service."""

import asyncio

from fullcircle.db import migrations_folder
from fullcircle.service import run_service
from services.features.app import setup
from services.features.settings import FeaturesSettings

if __name__ == "__main__":
    asyncio.run(run_service("features", FeaturesSettings(), migrations_folder(__file__), setup))
