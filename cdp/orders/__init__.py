"""Orders from every channel, with where the buyer came from, and the tiers they earn."""
