"""Credentials, tokens and roles."""
