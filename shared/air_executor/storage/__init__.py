"""The single owner of the base folder: paths, the job lock, atomic reads and writes."""
