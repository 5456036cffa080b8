"""The classic Dockerfile builder behind `POST /build` (see docs/DESIGN.md, "Build")."""
