"""The web app: server-rendered pages over the gateway's FullCircle API (see README, "The web
app"). A gRPC client of the gateway and nothing else; its only state is server-side sessions
in Redis."""
