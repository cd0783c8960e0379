"""Source databases."""
