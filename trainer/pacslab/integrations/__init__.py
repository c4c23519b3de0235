"""Bridges from other training libraries to the PACS Lab run directory."""
