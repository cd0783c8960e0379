"""Helpers of the browser tests: Debian's Chromium under Playwright, and screenshots."""
