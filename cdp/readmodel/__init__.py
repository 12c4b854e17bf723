"""Read models: one person's rows across domains fetched by one SQL statement that builds
their JSON in the database (`person.py`), decoded back into the values the ORM would give
(`json_rows.py`). Below cdp.graphql: nothing here knows GraphQL."""
