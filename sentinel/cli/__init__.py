"""The command line, one module per command group; ``main`` parses and dispatches.

It sits on top: nothing under ``sentinel/`` imports it.
"""
