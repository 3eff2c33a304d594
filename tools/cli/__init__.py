"""The `fullcircle` command line: the local stack, imports, recommendations, admin and drills."""
