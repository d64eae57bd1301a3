"""One router per area of the review page; each module's ``router(web)`` builds its own.

These modules do not postpone annotations: FastAPI reads each route's ``Annotated[..., Depends(...)]``
parameters, which name the closure's ``web``, when the route is defined."""
