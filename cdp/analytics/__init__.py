"""De-identified aggregates for analysts: counted in the database, small groups suppressed."""
