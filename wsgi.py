"""The served application objects, for gunicorn and other servers.

`app` is the Flask application alone (WSGI: the API and dashboard, no playground);
`asgi_app` is the whole site with the playground, served by the Procfile's web process.
"""
from pixelforge import create_app
from pixelforge.asgi import create_asgi_app

app = create_app()
asgi_app = create_asgi_app(app)
