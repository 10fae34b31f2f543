"""What the JSON API accepts as text.

PostgreSQL cannot store or even compare a string holding a NUL character (psycopg refuses the
query), so a `\\u0000` in any field would end as a 500 there while SQLite took it. Refusing it at the
edge makes both databases answer the same 422 naming the field, and the OpenAPI says so.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Text = Annotated[str, msgspec.Meta(pattern=r"^[^\x00]*$", description="Any text without NUL characters.")]
