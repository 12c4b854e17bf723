"""The staff console: static files served at `/console/` that speak to `/auth/staff/` and
`/graphql` with the staff session cookie."""
