"""A tool for the chat tests, imported by path from an agent config."""

from chorus.agent import tool


@tool
def get_weather(city: str) -> str:
    """Current weather for a city."""
    return f"12 C and clear in {city}"
