"""The Python API and the pipeline around it: a Scrubber per process, worker pools, the cross-claim batch phase."""
