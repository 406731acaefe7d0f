"""Benchmarks of the formats, the emulator, the pipeline and its bounds; each is run as a file from the project
root (`python bench/<name>.py`), with the project installed (`make install`)."""
