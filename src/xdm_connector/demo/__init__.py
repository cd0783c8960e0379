"""The demo: a SQLite source of Campaign-like profiles and a ready organization."""
