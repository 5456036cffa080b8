"""A client for the registry HTTP API v2, with Docker's endpoint, auth and error rules."""
