"""``sentinel simulate``: ``scenario`` (the scenario file: load and check it) and
``replay`` (run it on a fake clock through the production alert shell)."""
