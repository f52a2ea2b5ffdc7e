"""Records from other tools: a DVC project's stages and data, OpenLineage run events."""
