"""Slack message text: what people typed (titles, names) is shown as typed, never read as markup.

Slack reads `<!channel>`, `<@U123>` and `<https://x|label>` in message text; the three characters it
asks to escape are &, < and > (api.slack.com "Formatting text for app surfaces").
"""

from __future__ import annotations


def escape(text: str) -> str:
    """`text` with Slack's control characters escaped, so it reads literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(slack_user_id: str) -> str:
    """Our own mention of a person (the one piece of markup we write)."""
    return f"<@{escape(slack_user_id)}>"
