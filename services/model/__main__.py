"""`python -m services.model`: run the model service."""

import asyncio

from fullcircle.db import migrations_folder
from fullcircle.service import run_service
from services.model.app import setup
from services.model.settings import ModelSettings

if __name__ == "__main__":
    asyncio.run(run_service("model", ModelSettings(), migrations_folder(__file__), setup))
