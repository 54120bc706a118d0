"""Codes stored in English and shown in Chinese: every coded value of the platform is a ``LabeledEnum``."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

# keyed by (enum, value): members of different enums with the same value are equal str (ShareType and
# OpenType both have "conditional"), so keying by member would let one label overwrite the other
_LABELS: dict[tuple[type, str], str] = {}


class LabeledEnum(StrEnum):
    """A code stored in English, shown in Chinese (``label``); each domain registers its labels."""

    @property
    def label(self) -> str:
        return _LABELS[(type(self), self.value)]

    @classmethod
    def from_label(cls, text: str) -> LabeledEnum | None:
        """Accept the Chinese label or the code itself (imports and forms take either)."""
        text = text.strip()
        for member in cls:
            if text in (member.label, member.value):
                return member
        return None

    @classmethod
    def label_for(cls, code: object) -> str:
        """The Chinese label of a stored code (or label); an unknown value is shown as it is."""
        text = "" if code is None else str(code)
        member = cls.from_label(text)
        return member.label if member is not None else text

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        return [(m.value, m.label) for m in cls]


def register_labels(labels: Mapping[LabeledEnum, str]) -> None:
    """Every member of each enum given must get its label: a code that shows up unlabelled is a bug."""
    for enum in {type(member) for member in labels}:
        given = {member.value for member in labels if type(member) is enum}
        missing = [member.value for member in enum if member.value not in given]
        if missing:
            raise ValueError(f"{enum.__name__} lacks labels for {missing}")
    _LABELS.update({(type(member), member.value): label for member, label in labels.items()})
