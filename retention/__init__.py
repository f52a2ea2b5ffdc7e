"""Retention policy: presets, matching and retain-until dates. Imports provenance only."""
