"""The compliance desk's data-subject requests: its script, and the desk in Chromium."""
