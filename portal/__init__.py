"""The exchange portal: web pages for departments, integrators and the hub's supervisors.

A second face of the hub, not a second system: its routes call the same warehouse and catalog
functions as the API and the command line, people sign in with a session (machines keep their
API keys), and every script, style sheet and image is served by the hub itself.
"""
