"""Consent per purpose and channel, honoured everywhere at once; contact frequency caps."""
