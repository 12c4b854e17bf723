"""Staff lookups that find nobody: counted per actor in a sliding window, capped, flagged."""
