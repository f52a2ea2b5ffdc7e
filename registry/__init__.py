"""Everything with I/O, in rooms: the service (``registry.service.Registry``), the database,
artifact stores, the user's files, capture, importers, the HTTP API and client, the CLI.
docs/architecture.md has the map. Nothing is re-exported here: ``prov --help`` must not load
the database layer (``from provenance import Registry`` is the public entry point)."""
