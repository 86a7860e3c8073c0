"""WSGI entry for gunicorn: `gunicorn 'textbank.wsgi:app'`."""

from textbank import create_app, heap

app = create_app()
heap.settle()  # in each gunicorn worker: the app and its imports stay for the worker's life
