"""The human page of the OpenAPI document, /api/v1/docs: Swagger UI served from the installed
swagger-ui-bundle package (no CDN), started by the portal's own script (no inline script)."""

from flask import Blueprint, abort, render_template, send_from_directory, url_for

blueprint = Blueprint("api_docs", __name__, url_prefix="/api/v1/docs")

ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js")


def _assets_dir():
    from swagger_ui_bundle import swagger_ui_path

    return str(swagger_ui_path)


@blueprint.route("")
def page():
    """Swagger UI on the portal's OpenAPI document."""
    return render_template("api/docs.html", spec_url=url_for("api-docs.openapi_json"))


@blueprint.route("/assets/<name>")
def asset(name):
    """One file of Swagger UI, from the installed package."""
    if name not in ASSETS:
        abort(404)
    return send_from_directory(_assets_dir(), name, max_age=86400)
