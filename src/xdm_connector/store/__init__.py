"""The metadata store: the only code that speaks SQL to the metadata database."""
