"""A tool that takes its time, imported by path from a server config in the SDK tests."""

import time


def take_a_while(seconds: float) -> str:
    """Wait, then say so.

    Args:
        seconds: how long
    """
    time.sleep(min(2.0, max(0.0, seconds)))
    return "done waiting"
