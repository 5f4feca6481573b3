"""Personal identifiers: GB 11643-1999 resident ID numbers (check character) and mobile numbers."""

from __future__ import annotations

import pytest

from ingest.pii import contains_personal_data, id_check_character, is_resident_id, mask

# The check character computed by hand for the standard's own worked example, 11010519491231002X:
# sum(d_i * w_i) over 1,1,0,1,0,5,1,9,4,9,1,2,3,1,0,0,2 with weights 7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2
# = 7+9+0+5+0+20+2+9+24+27+7+18+30+5+0+0+4 = 167; 167 mod 11 = 2; "10X98765432"[2] = "X".
STANDARD_EXAMPLE = "11010519491231002X"


def test_check_character_of_the_standards_example() -> None:
    assert id_check_character(STANDARD_EXAMPLE[:17]) == "X"
    assert is_resident_id(STANDARD_EXAMPLE)
    assert is_resident_id(STANDARD_EXAMPLE.lower())


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("110105194912310021", "wrong check character"),
        ("110105194913310020", "month 13"),
        ("110105194902300025", "30 February"),
        ("11010519491231002", "17 characters"),
    ],
)
def test_not_resident_ids(text: str, why: str) -> None:
    assert not is_resident_id(text), why
    assert contains_personal_data(f"编号 {text}") == [], why


@pytest.mark.parametrize(
    ("value", "kinds"),
    [
        (STANDARD_EXAMPLE, ["resident_id"]),
        (f"户主身份证：{STANDARD_EXAMPLE}。", ["resident_id"]),
        ("１１０１０５１９４９１２３１００２Ｘ", ["resident_id"]),  # full-width
        ("13800138000", ["mobile"]),
        (13800138000, ["mobile"]),  # a number cell
        (13800138000.0, ["mobile"]),
        ("+86 138 0013 8000", ["mobile"]),
        ("0086-138-0013-8000", ["mobile"]),
        ("8613800138000", ["mobile"]),
        ("电话19912345678和13912345678", ["mobile", "mobile"]),
        ("12800138000", []),  # 12x is not a mobile prefix
        ("138001380001", []),  # twelve digits: part of a longer number
        ("2023138001380", []),
        ("0571-87654321", []),  # a landline (an office's, not a person's)
        ("330102", []),
        (1234.5, []),
        (None, []),
        (True, []),
    ],
)
def test_detection(value: object, kinds: list[str]) -> None:
    assert contains_personal_data(value) == kinds


def test_mask_keeps_shape_and_hides_digits() -> None:
    masked = mask(f"户主 {STANDARD_EXAMPLE}，电话 +86 138-0013-8000，区划 330102")
    assert masked == "户主 ******************，电话 +** ***-****-****，区划 330102"
    assert mask("nothing here 330102") == "nothing here 330102"
