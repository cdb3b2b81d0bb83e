"""PixelForge benchmarks: `python -m bench` prints one table of figures (`--quick` for a one-minute run).

Benchmarks measure and print; they never assert timing goals. bench/gpu.py is run by hand on a CUDA host.
"""
