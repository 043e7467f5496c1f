"""The framework's ceiling for bench/load.py: a bare Flask app with one "hello" route."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    """The cheapest answer Flask and gunicorn can give."""
    return "hello"
