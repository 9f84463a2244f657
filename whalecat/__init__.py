"""whalecat: catalogue and identify humpback whales by the underside of their tail fluke."""

__version__ = "0.1.0"
