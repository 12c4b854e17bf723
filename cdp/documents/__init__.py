"""Trusted documents: GraphQL documents registered ahead of time and run by their id (the
SHA-256 of their text), so that a public client sends only `documentId` and variables."""
