"""Suppression: the erasure requests and the list of erased identifiers that every write path
consults, below profiles so that every domain (and the identity graph) can ask it."""
