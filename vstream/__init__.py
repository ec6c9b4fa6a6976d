"""vstream: turn stored and live video into SQL-queryable scene timelines."""

__version__ = "0.1.0"
