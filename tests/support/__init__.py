"""Test support: backends, live servers, data factories."""
