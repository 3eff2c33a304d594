"""`python -m services.web`: run the web app (HTTP on WEB_PORT, gRPC health on GRPC_PORT)."""

import asyncio

from services.web.app import serve
from services.web.settings import WebSettings

if __name__ == "__main__":
    asyncio.run(serve(WebSettings()))
