"""Behaviour events (article reads, menu clicks, video views) with their entry parameters."""
