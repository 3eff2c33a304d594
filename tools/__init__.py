"""Tools above the services: the CLI, the local stack, the evaluation lab and the demo
generators. They may import the kernel and the services; nothing imports them."""
