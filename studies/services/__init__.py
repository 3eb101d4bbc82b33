"""Business rules and every write. Functions take keyword arguments and run in a transaction."""
