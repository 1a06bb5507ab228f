"""What the API (and the command line) ask of the hub, one module per resource.

A route parses, authorizes by role and calls one function here; the function applies the caller's
community scope, does the work through the case, device and notification modules and the store, and
refuses with `hub.domain.errors`, which the API turns into HTTP statuses in one place.
"""
