"""Templates: checking, rendering with empty values, and SMS segment counting."""

import pytest

from textbank.campaigns.rendering import (
    GSM_BASIC,
    GSM_EXTENSION,
    MERGE_FIELDS,
    Encoding,
    SegmentInfo,
    TemplateError,
    check_template,
    measure,
    render,
)

CURLY_QUOTE = "\N{RIGHT SINGLE QUOTATION MARK}"
MEMBER = {"first_name": "Ana", "last_name": "Reyes", "local": "1199", "worksite": "Mercy General"}


# --- check_template -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "Hi {first_name}, vote Tuesday!",
        "{first_name} {last_name} of Local {local} at {worksite}",
        "No fields at all.",
        "Braces: {{literal}} and }} and {{",
        "{first_name}{first_name}",
    ],
)
def test_good_templates_pass(template):
    check_template(template)


@pytest.mark.parametrize("template", ["", "   ", "\n"])
def test_empty_template_is_refused(template):
    with pytest.raises(TemplateError, match=r"^the message is empty$"):
        check_template(template)


def test_unknown_field_is_named_with_the_allowed_ones():
    with pytest.raises(TemplateError) as info:
        check_template("Hi {nickname}!")
    assert str(info.value) == (
        "unknown merge field {nickname}; use {first_name}, {last_name}, {local}, {worksite} "
        "or {local_stats}"
    )


def test_every_unknown_field_is_named_once():
    with pytest.raises(TemplateError) as info:
        check_template("{nickname} {zip} {first_name} {nickname}")
    message = str(info.value)
    assert message.startswith("unknown merge fields {nickname} {zip};")
    assert message.count("{nickname}") == 1
    assert "{first_name}, {last_name}, {local}, {worksite} or {local_stats}" in message


def test_field_names_are_case_sensitive():
    with pytest.raises(TemplateError, match=r"\{First_Name\}"):
        check_template("Hi {First_Name}")


@pytest.mark.parametrize("template", ["Hi {}", "{} and {}"])
def test_empty_braces_are_refused(template):
    with pytest.raises(TemplateError) as info:
        check_template(template)
    assert "empty {}" in str(info.value)
    assert "{{}}" in str(info.value)


def test_numbered_field_is_refused():
    with pytest.raises(TemplateError, match=r"numbered field \{0\}"):
        check_template("Hi {0}")


@pytest.mark.parametrize(
    ("template", "shown"),
    [
        ("{first_name!r}", "{first_name!r}"),
        ("{first_name:>10}", "{first_name:>10}"),
        ("{first_name!s:^5}", "{first_name!s:^5}"),
        ("{first_name:{local}}", "{first_name:{local}}"),
    ],
)
def test_formatting_is_refused(template, shown):
    with pytest.raises(TemplateError) as info:
        check_template(template)
    assert (
        str(info.value)
        == f"{shown} has formatting, which merge fields do not take — write {{first_name}}"
    )


@pytest.mark.parametrize("template", ["{local.name}", "{local[0]}", "{worksite[city]}"])
def test_attribute_and_index_access_are_refused(template):
    with pytest.raises(TemplateError) as info:
        check_template(template)
    assert template in str(info.value)
    assert "looks inside a field" in str(info.value)


@pytest.mark.parametrize("template", ["Hi {first_name", "Hi first_name}", "a { b", "}", "{a!}"])
def test_unbalanced_braces_are_explained(template):
    with pytest.raises(TemplateError) as info:
        check_template(template)
    assert str(info.value) == "unmatched { or } — write {{ or }} for a literal brace"
    assert isinstance(info.value.__cause__, ValueError)


def test_spaces_inside_braces_get_a_hint():
    with pytest.raises(TemplateError, match=r"spaces inside the braces — write \{first_name\}"):
        check_template("Hi { first_name }")


def test_template_error_is_a_value_error():
    assert issubclass(TemplateError, ValueError)
    assert MERGE_FIELDS == ("first_name", "last_name", "local", "worksite", "local_stats")


# --- render ---------------------------------------------------------------------------------


def test_render_substitutes_every_field():
    text = render("{first_name} {last_name}, Local {local} at {worksite}", MEMBER)
    assert text == "Ana Reyes, Local 1199 at Mercy General"


def test_render_leaves_text_alone_when_nothing_is_empty():
    # No value was empty, so the manager's own spacing stays exactly as written.
    assert render("  Hi  {first_name} !  ", MEMBER) == "  Hi  Ana !  "


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("Hi {first_name}, vote!", {"first_name": ""}, "Hi, vote!"),
        ("Hi {first_name}, vote!", {"first_name": None}, "Hi, vote!"),
        ("Hi {first_name}, vote!", {}, "Hi, vote!"),
        ("Hi {first_name}!", {}, "Hi!"),
        ("Hi {first_name}. Vote", {}, "Hi. Vote"),
        ("Hi {first_name}? Vote", {}, "Hi? Vote"),
        ("Hi {first_name} ; x : y", {}, "Hi; x : y"),
        ("Hi {first_name} {last_name}, vote", {}, "Hi, vote"),
        ("Hi {first_name} {last_name}, vote", {"last_name": "Reyes"}, "Hi Reyes, vote"),
        ("Hi {first_name} {last_name}, vote", {"first_name": "Ana"}, "Hi Ana, vote"),
        ("{first_name} see you at {worksite}", {"worksite": "Mercy"}, "see you at Mercy"),
        ("See you at {worksite}", {}, "See you at"),
        ("Local {local} meets {worksite} today", {}, "Local meets today"),
        ("Hi {first_name}\nVote Tuesday", {}, "Hi\nVote Tuesday"),
        ("Hi {first_name}", {"first_name": "   "}, "Hi"),
        ("{first_name}", {}, ""),
    ],
)
def test_render_tidies_around_empty_values(template, values, expected):
    assert render(template, values) == expected


def test_render_undoubles_literal_braces():
    assert render("{{first_name}} is {first_name} }}{{", MEMBER) == "{first_name} is Ana }{"


@pytest.mark.parametrize("value", ["{x}", "{", "}}", "{first_name}", "{0}", "{local.name}", "%s"])
def test_values_with_braces_go_in_verbatim(value):
    assert render("Hi {first_name}, from {local}", {"first_name": value, "local": "9"}) == (
        f"Hi {value}, from 9"
    )


def test_values_are_not_reinterpreted_even_twice():
    values = {"first_name": "{last_name}", "last_name": "Reyes"}
    assert render("{first_name} {last_name}", values) == "{last_name} Reyes"


def test_render_accepts_a_row_mapping_with_non_text_values():
    assert render("Local {local}", {"local": 1199}) == "Local 1199"


def test_render_ignores_extra_values():
    assert render("Hi {first_name}", {**MEMBER, "phone": "+16175550123"}) == "Hi Ana"


def test_render_refuses_a_bad_template():
    with pytest.raises(TemplateError, match="unknown merge field"):
        render("Hi {nickname}", MEMBER)


# --- measure --------------------------------------------------------------------------------


def test_gsm_table_is_complete():
    assert len(GSM_BASIC) == 127 == len(set(GSM_BASIC))
    assert set(GSM_EXTENSION) == set("\f^{}\\[~]|€")
    assert not set(GSM_BASIC) & set(GSM_EXTENSION)
    for ch in "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà\n\r !\"#%&'()*+,-./:;<=>?":
        assert ch in GSM_BASIC


@pytest.mark.parametrize(
    ("count", "segments"), [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)]
)
def test_gsm_segments(count, segments):
    assert measure("a" * count) == SegmentInfo(Encoding.GSM7, segments, count)


@pytest.mark.parametrize(
    ("count", "segments"), [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
@pytest.mark.parametrize("char", ["ç", "中", CURLY_QUOTE])
def test_ucs2_segments(char, count, segments):
    assert measure(char * count) == SegmentInfo(Encoding.UCS2, segments, count)


def test_empty_text_has_no_segments():
    assert measure("") == SegmentInfo(Encoding.GSM7, 0, 0)


def test_extension_characters_cost_two_septets():
    assert measure("€") == SegmentInfo(Encoding.GSM7, 1, 2)
    assert measure("{}[]") == SegmentInfo(Encoding.GSM7, 1, 8)
    assert measure("€" * 80) == SegmentInfo(Encoding.GSM7, 1, 160)
    assert measure("€" * 80 + "a") == SegmentInfo(Encoding.GSM7, 2, 161)


def test_an_escape_is_never_split_across_segments():
    # 152 + 2 fills 154 septets if packed blindly; the € has to start segment 2.
    text = "a" * 152 + "€" + "a" * 152
    assert measure(text) == SegmentInfo(Encoding.GSM7, 3, 306)
    # Plain division would say 2 segments for 306 septets.
    assert measure("a" * 306) == SegmentInfo(Encoding.GSM7, 2, 306)
    assert measure("a" * 151 + "€" + "a" * 153) == SegmentInfo(Encoding.GSM7, 2, 306)


def test_emoji_is_two_utf16_units():
    assert measure("👍") == SegmentInfo(Encoding.UCS2, 1, 2)
    assert measure("👍" * 35) == SegmentInfo(Encoding.UCS2, 1, 70)
    assert measure("👍" * 35 + "a") == SegmentInfo(Encoding.UCS2, 2, 71)


def test_a_surrogate_pair_is_never_split_across_segments():
    text = "a" * 66 + "👍" + "a" * 66
    assert measure(text) == SegmentInfo(Encoding.UCS2, 3, 134)
    assert measure("a" * 65 + "👍" + "a" * 67) == SegmentInfo(Encoding.UCS2, 2, 134)


def test_spanish_with_only_gsm_letters_stays_gsm():
    text = "¿Vienes el martes? Año nuevo, señor. ¡Vota!"
    assert measure(text).encoding is Encoding.GSM7
    assert measure(text).characters == len(text)


def test_accented_a_forces_ucs2():
    # á is not in GSM 03.38 (only à is), so one of them turns the whole text into UCS-2.
    text = "¿Vienes a la reunión? Mañana más información."
    info = measure(text)
    assert info.encoding is Encoding.UCS2
    assert info.characters == len(text)
    assert measure("á") == SegmentInfo(Encoding.UCS2, 1, 1)


def test_case_matters_for_cedilla():
    assert measure("Ç").encoding is Encoding.GSM7
    assert measure("ç").encoding is Encoding.UCS2


def test_curly_quote_forces_ucs2():
    assert measure("Don't").encoding is Encoding.GSM7
    assert measure(f"Don{CURLY_QUOTE}t").encoding is Encoding.UCS2


def test_one_ucs2_character_shrinks_the_segment_size():
    assert measure("a" * 100).segments == 1
    assert measure("a" * 99 + CURLY_QUOTE).segments == 2


def test_encoding_values():
    assert Encoding.GSM7 == "GSM-7"
    assert Encoding.UCS2 == "UCS-2"
