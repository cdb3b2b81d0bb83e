"""PixelForge's Python client: `Client(base_url, api_key).run("remove-background", "photo.jpg", output="out.png")`."""
from pixelforge_client.async_client import AsyncClient
from pixelforge_client.client import Client
from pixelforge_client.core import Job, Result, RetryPolicy
from pixelforge_client.errors import (AuthenticationError, Conflict, InsufficientCredits, JobFailed, NotFound,
                                      PayloadTooLarge, PermissionDenied, PixelForgeError, RateLimited, ServerError,
                                      ValidationError, WaitTimeout)

__all__ = ["AsyncClient", "AuthenticationError", "Client", "Conflict", "InsufficientCredits", "Job", "JobFailed",
           "NotFound", "PayloadTooLarge", "PermissionDenied", "PixelForgeError", "RateLimited", "Result",
           "RetryPolicy", "ServerError", "ValidationError", "WaitTimeout"]
