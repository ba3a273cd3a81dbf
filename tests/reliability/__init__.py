"""Reliability tier: bad input (data files, command-line options, saved models) fails clearly."""
