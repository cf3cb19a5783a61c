"""Running several sentinels as one (not built yet): ``membership`` (who is alive,
by heartbeats in the shared store), ``leases`` (claims with an expiry, so one node
escalates an alert and sends a report), ``ownership`` (which node probes which
check, by rendezvous hashing over the members). The daemon wires it between the
scheduler and the store; nothing else imports it. See ../shared/DESIGN.md, "Layout".
"""
