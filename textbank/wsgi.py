"""WSGI entry for gunicorn: `gunicorn 'textbank.wsgi:app'`."""

from textbank import create_app

app = create_app()
