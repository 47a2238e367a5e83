"""Where notes are scored: in this process or a pool of workers (``local``), or on Spark."""
