"""The coordinator console: set up, check, launch and watch a study in the browser."""
