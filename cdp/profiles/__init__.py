"""Profiles and the identity graph: one person, one account across a brand's apps."""
