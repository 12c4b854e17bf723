"""Per-profile data keys: creation, unwrapping for one unit of work, rotation, destruction."""
