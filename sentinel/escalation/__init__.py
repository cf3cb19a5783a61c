"""Who gets told, and when: on-call rotations and escalation policies."""
