"""The password policy of DESIGN.md section 3: long enough, not the user name, not a common password.

The common-password list is zxcvbn's (30,000 passwords from leaked-password corpora, a maintained package)
plus a small shipped file of passwords common among Chinese-speaking users that the English-centred lists
miss (``common_passwords_zh.txt``). Both load on first use, never at import time.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from command_center.errors import ValidationFailed

MIN_LENGTH = 10
MAX_LENGTH = 200


@cache
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    shipped = files("command_center.auth").joinpath("common_passwords_zh.txt").read_text(encoding="utf-8")
    extra = (line.strip() for line in shipped.splitlines())
    return frozenset(FREQUENCY_LISTS["passwords"]) | {p.lower() for p in extra if p and not p.startswith("#")}


def check(password: str, *, user_name: str) -> None:
    """Raise :class:`ValidationFailed` on ``password`` naming the rule it breaks."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(f"password must be at least {MIN_LENGTH} characters", field="password")
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(f"password must be at most {MAX_LENGTH} characters", field="password")
    lowered, name = password.lower(), user_name.lower()
    if name and (lowered == name or (len(name) >= 4 and name in lowered)):
        raise ValidationFailed("password must not be or contain the user name", field="password")
    if lowered in common_passwords() or lowered.rstrip("0123456789!.") in common_passwords():
        raise ValidationFailed(
            "password is in a list of commonly used passwords; choose another", field="password"
        )
