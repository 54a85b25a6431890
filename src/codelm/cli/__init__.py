"""Thin typer commands: parse arguments, call the library, print the result."""
