"""Rules: the expression language (expr.py), its evaluation (evaluate.py) and alert states."""
