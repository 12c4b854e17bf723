"""Every table of every domain, imported in one place for Alembic and the merge registry."""

from sqlmodel import SQLModel

from cdp.audit.models import AuditEvent
from cdp.keys.models import DataKey
from cdp.profiles.models import Identity, Profile, ProfileMerge

metadata = SQLModel.metadata

__all__ = ["AuditEvent", "DataKey", "Identity", "Profile", "ProfileMerge", "metadata"]
