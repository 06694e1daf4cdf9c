"""Helpers for the fault, security and team-server tests: subprocesses, ports, prepared stores."""
