"""The published contract: GET /api/v1/openapi.json and a Swagger UI page at /api/docs, served from a Python
package (swagger-ui-bundle-v2), so nothing loads from a CDN. Both are public: the contract is no secret."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, send_from_directory
from werkzeug.exceptions import NotFound

from pixelforge.api.openapi import build_document

docs = Blueprint("api_docs", __name__)
SWAGGER_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"}
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PixelForge API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
  tryItOutEnabled: false, persistAuthorization: false});</script>
</body></html>"""


@docs.get("/api/v1/openapi.json")
def openapi_document():
    document = current_app.extensions.get("pixelforge.openapi")
    if document is None:
        document = current_app.extensions["pixelforge.openapi"] = build_document(current_app)
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@docs.get("/api/docs")
def docs_page():
    return PAGE, 200, {"Content-Type": "text/html; charset=utf-8"}


@docs.get("/api/docs/assets/<name>")
def docs_asset(name: str):
    if name not in SWAGGER_FILES:
        raise NotFound()
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(swagger_ui_path, name, max_age=86400)
