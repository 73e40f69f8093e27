"""Helpers shared by the tests: pages, the test site, real servers, checks. conftest.py
holds only the fixtures."""
