"""Route tables, one module per group of Engine API endpoints."""
