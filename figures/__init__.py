"""isodyn.figures - plotting and the reproduction report; no mathematics of its own."""
