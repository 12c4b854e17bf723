"""Tags on profiles: set by hand, by rules, or by imports."""
