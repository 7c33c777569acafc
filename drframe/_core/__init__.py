"""Customer rules: models, schema, ids, cell text."""
