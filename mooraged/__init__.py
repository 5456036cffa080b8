"""The `mooraged` process: flags, wiring of the layers, and the API server's routes.

It sits on top of the layering: it alone imports both `api` and `daemon`.
"""
