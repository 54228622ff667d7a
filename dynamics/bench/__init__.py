"""isodyn.dynamics.bench - the benchmark registry behind ``isodyn bench`` and its rows."""
