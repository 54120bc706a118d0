"""Platform core: settings, database, errors, auth primitives, audit log. Depends on nothing else in jutong."""
