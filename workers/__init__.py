"""The worker side of PixelForge: the RQ worker process, its tasks and the engines it runs."""
