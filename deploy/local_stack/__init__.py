"""The production stack as plain processes on loopback, and the process helpers it shares with the
load runs (``tests/load``). Command line: ``deploy/local-stack`` (``python -m deploy.local_stack``)."""
