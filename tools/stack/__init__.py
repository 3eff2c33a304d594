"""The local stack: every service as a process, on embedded PostgreSQL and Redis by default."""
