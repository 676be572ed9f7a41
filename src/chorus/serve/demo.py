"""What ``chorus serve`` serves with no config: three agents with tools, and a team.

``assistant`` answers questions with two tools (the weather, arithmetic) and a third that
needs a person's approval (sending an email); ``coder`` and ``writer`` offer capabilities
and form the team ``crew``. The tools are toys with fixed answers: the point is to see
turns, tool calls, approvals and team runs work end to end.
"""

from __future__ import annotations

import ast
import operator

from chorus.agent.tools import tool
from chorus.declare import AgentConfig, CapabilityConfig
from chorus.serve.config import ServeConfig, StoreConfig, TeamDeclared

__all__ = ["calculate", "demo_config", "get_weather", "send_email"]


def get_weather(city: str) -> str:
    """The weather in a city right now.

    Args:
        city: the city's name, e.g. "Lyon"
    """
    return f"12 C and clear in {city}"


_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
}


def calculate(expression: str) -> str:
    """Work out an arithmetic expression (numbers, + - * / ** and parentheses).

    Args:
        expression: for example "(2 + 3) * 4"
    """

    def value(node: ast.AST) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            if isinstance(node.op, ast.Pow) and abs(value(node.right)) > 64:
                raise ValueError("exponent too large")
            result = _OPS[type(node.op)](value(node.left), value(node.right))  # type: ignore[operator]
            return float(result)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return float(_OPS[type(node.op)](value(node.operand)))  # type: ignore[operator]
        raise ValueError("only numbers and + - * / ** ( ) are allowed")

    if len(expression) > 200:
        raise ValueError("the expression is longer than 200 characters")
    return str(value(ast.parse(expression, mode="eval").body))


@tool(approval=True, side_effects=True)
def send_email(to: str, subject: str) -> str:
    """Send an email (a person approves each one first).

    Args:
        to: the address
        subject: the subject line
    """
    return f"sent to {to}: {subject}"


def demo_config(db: str = "chorus.db") -> ServeConfig:
    here = "chorus.serve.demo"
    return ServeConfig(
        agents=(
            AgentConfig(
                name="assistant",
                description="Answers questions; looks up the weather, does arithmetic, and "
                "sends email once a person approves.",
                system="You are a helpful assistant. Use the tools when they help.",
                tools=(f"{here}:get_weather", f"{here}:calculate", f"{here}:send_email"),
            ),
            AgentConfig(
                name="coder",
                description="Writes and fixes Python code.",
                system="You write and fix Python code.",
                tools=(f"{here}:calculate",),
                capabilities=(
                    CapabilityConfig("python", "writes and fixes Python code and tests"),
                ),
            ),
            AgentConfig(
                name="writer",
                description="Writes user documentation and changelogs.",
                system="You write clear documentation.",
                capabilities=(
                    CapabilityConfig("docs", "writes user documentation and changelogs"),
                ),
            ),
        ),
        teams=(TeamDeclared("crew", ("coder", "writer"), bid_window=0.2),),
        store=StoreConfig(path=db),
    )
