"""Running several sentinels as one on a shared PostgreSQL (docs/scaling.md):
``membership`` (who is alive, by heartbeats in the shared store, on the
database's clock), claims with a lease (one member escalates an alert, one sends
each outbox row), the leader lock, and check ownership (rendezvous hashing over
the live members). The daemon wires it through app/; the single-process SQLite
path carries none of it.
"""
