"""The party of an enforcement case (当事人): a person, a regulated place or a company.

Pure. A company is named by its 统一社会信用代码, checked by its last character as
GB 32100-2015 (法人和其他组织统一社会信用代码编码规则) computes it; a person by the type and
number of an identity document, a 居民身份证 number checked by its last character as
GB 11643-1999 computes it. Numbers are kept whole in the case's row (the documents of the case
need them) and shown masked everywhere else (answers, the history): the first three and the
last four characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from dispatcher.core.errors import ValidationFailed

#: GB 32100-2015: the 31 characters of the code (no I, O, S, V, Z) and the weights 3^i mod 31
CREDIT_CHARS: Final = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS: Final = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: GB 11643-1999: the weights of the first 17 digits and the check character by sum mod 11
ID_WEIGHTS: Final = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK: Final = "10X98765432"


class PartyKind(StrEnum):
    PERSON = "person"  # 自然人
    PLACE = "place"  # 监管场所 (a place of the planned inspections, by its id)
    COMPANY = "company"  # 法人或其他组织


class IdType(StrEnum):
    RESIDENT = "resident_id"  # 居民身份证
    PASSPORT = "passport"  # 护照
    HK_MACAO = "hk_macao_permit"  # 港澳居民来往内地通行证
    TAIWAN = "taiwan_permit"  # 台湾居民来往大陆通行证
    FOREIGN_PERMANENT = "foreign_permanent_id"  # 外国人永久居留身份证
    OTHER = "other"


ID_LABELS: Final = {
    IdType.RESIDENT: "居民身份证",
    IdType.PASSPORT: "护照",
    IdType.HK_MACAO: "港澳居民来往内地通行证",
    IdType.TAIWAN: "台湾居民来往大陆通行证",
    IdType.FOREIGN_PERMANENT: "外国人永久居留身份证",
    IdType.OTHER: "其他证件",
}
PARTY_LABELS: Final = {
    PartyKind.PERSON: "自然人",
    PartyKind.PLACE: "监管场所",
    PartyKind.COMPANY: "法人或其他组织",
}


def credit_code_check(first17: str) -> str:
    """The check character GB 32100-2015 gives the first 17 characters of a code."""
    total = sum(CREDIT_CHARS.index(c) * w for c, w in zip(first17, CREDIT_WEIGHTS, strict=True))
    return CREDIT_CHARS[(31 - total % 31) % 31]


def valid_credit_code(code: str) -> bool:
    """Whether ``code`` is 18 characters of the code's set whose last is the right check."""
    if len(code) != 18 or any(c not in CREDIT_CHARS for c in code):
        return False
    return credit_code_check(code[:17]) == code[17]


def valid_resident_id(number: str) -> bool:
    """Whether ``number`` is an 18-character 居民身份证 number with the right check."""
    if len(number) != 18 or not number[:17].isdigit() or not number[:17].isascii():
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == number[17].upper()


def mask(number: str) -> str:
    """A number shown: the first three and last four characters, stars between (short ones
    keep only their last two)."""
    if len(number) <= 8:
        return "*" * max(len(number) - 2, 0) + number[-2:]
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


@dataclass(frozen=True)
class Party:
    """Who the case is against."""

    kind: PartyKind
    name: str
    id_type: IdType | None = None
    id_number: str | None = None
    place_id: str | None = None
    credit_code: str | None = None

    def to_doc(self) -> dict[str, Any]:
        """The party as shown: the identity number masked."""
        return {
            "kind": self.kind.value,
            "kind_label": PARTY_LABELS[self.kind],
            "name": self.name,
            "id_type": self.id_type.value if self.id_type else None,
            "id_type_label": ID_LABELS[self.id_type] if self.id_type else None,
            "id_number": mask(self.id_number) if self.id_number else None,
            "place_id": self.place_id,
            "credit_code": self.credit_code,
        }

    def to_record(self) -> dict[str, Any]:
        """The party as stored in the case's row (whole)."""
        return {**self.to_doc(), "id_number": self.id_number}

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> Party:
        return cls(
            kind=PartyKind(doc["kind"]),
            name=doc["name"],
            id_type=IdType(doc["id_type"]) if doc.get("id_type") else None,
            id_number=doc.get("id_number"),
            place_id=doc.get("place_id"),
            credit_code=doc.get("credit_code"),
        )


def make_party(
    kind: PartyKind,
    name: str,
    *,
    id_type: IdType | None = None,
    id_number: str | None = None,
    place_id: str | None = None,
    credit_code: str | None = None,
) -> Party:
    """A party checked for what its kind needs; 422 naming the field otherwise."""
    if kind is PartyKind.PERSON:
        if id_type is None or not id_number:
            raise ValidationFailed(
                "party.id_number: a person is named with an identity document",
                field="party.id_number",
            )
        id_number = id_number.upper()
        if id_type is IdType.RESIDENT and not valid_resident_id(id_number):
            raise ValidationFailed(
                "party.id_number: not a 居民身份证 number (GB 11643 check character)",
                field="party.id_number",
            )
        return Party(kind, name, id_type=id_type, id_number=id_number)
    if kind is PartyKind.PLACE:
        if not place_id:
            raise ValidationFailed(
                "party.place_id: a place is named by its id", field="party.place_id"
            )
        return Party(kind, name, place_id=place_id)
    code = (credit_code or "").upper()
    if not valid_credit_code(code):
        raise ValidationFailed(
            "party.credit_code: not a 统一社会信用代码 (GB 32100-2015 check character)",
            field="party.credit_code",
        )
    return Party(kind, name, credit_code=code)
