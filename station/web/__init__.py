"""The station's review page (``bodycam-station web``): search, play a session as one timeline
with each segment's verification state, export requests and approval, the audit trail.

Built on FastAPI (Starlette underneath: ASGI, range requests for files), Jinja2 for the pages
and uvicorn to serve them; all three are widely used and maintained, and the page needs
nothing else on the server. The browser plays the signed originals through Media Source
Extensions (``static/player.js``): no copy, no remux, no re-encoding.
"""
