"""Batch runs over a manifest (pure core): :mod:`.runner` reads the manifest, runs a per-case function in
worker processes, writes one results row per case (``error`` rows for failures) and resumes."""
