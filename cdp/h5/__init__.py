"""The member-center H5 page: static files served at `/h5/`."""
