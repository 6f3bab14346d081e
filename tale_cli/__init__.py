"""Tale: turn a written story into a one-minute film from the terminal."""

__version__ = "0.1.0"
