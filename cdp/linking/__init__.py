"""Linking an app identity to its person: above every domain, because a link that shows two
profiles are one person merges them, and a merge moves the rows of every domain."""
