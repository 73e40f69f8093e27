"""The HTTP face: ``app`` (create_app and its lifespan), ``routes`` (captures, images, health),
``job_routes``, ``diff_routes``, ``hitpath`` (cache hits without the router), ``logs`` (request
ids, the access log), ``metrics``, ``openapi`` (the document, /docs, the playground) and
``static/``."""
