"""Every table of every domain, imported in one place for Alembic and the merge registry."""

from sqlmodel import SQLModel

from cdp.profiles.models import Identity, Profile, ProfileMerge

metadata = SQLModel.metadata

__all__ = ["Identity", "Profile", "ProfileMerge", "metadata"]
