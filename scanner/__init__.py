"""brokerscan: find leaked brokerage credentials (Interactive Brokers first) in files and git history."""

__version__ = "0.1.0"
