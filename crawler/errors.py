"""The crawler's error tree: expected failures the CLI reports as one line."""


class CrawlError(Exception):
    """Base class for every expected crawler failure."""


class ConfigError(CrawlError):
    """A configuration file or option is invalid (exit code 2)."""
