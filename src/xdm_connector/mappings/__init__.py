"""Data mappings: definition, lifecycle and publication."""
