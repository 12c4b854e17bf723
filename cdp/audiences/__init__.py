"""Audiences: rule-built tags over behaviour. Definitions (a condition tree), their compiler
to one SQL statement, and membership kept current in full and per person (issue 22)."""
