import pytest

from alexnet_book import page


def test_key_results_are_printed_plain_and_glued_for_the_box(monkeypatch, capsys):
    shown = []
    monkeypatch.setattr("IPython.display.display",
                        lambda data, raw, metadata: shown.append((data, raw, metadata)))
    page.show_key_results(["**12,810** parameters", "**91.2%** test accuracy"])
    assert capsys.readouterr().out == "12,810 parameters\n91.2% test accuracy\n"
    (data, raw, metadata), = shown
    markdown = "- **12,810** parameters\n- **91.2%** test accuracy"
    assert raw and data == {page.GLUE_PREFIX + "text/markdown": markdown}
    assert metadata == {"scrapbook": {"name": "key_results", "mime_prefix": page.GLUE_PREFIX}}


@pytest.mark.parametrize("lines", [[], [""], ["ok", None], "**1** line, not a list"])
def test_key_results_need_lines_of_text(lines):
    with pytest.raises(ValueError, match="non-empty lines"):
        page.show_key_results(lines)


def test_key_results_from_a_generator_are_shown(monkeypatch, capsys):
    monkeypatch.setattr("IPython.display.display", lambda data, raw, metadata: None)
    page.show_key_results(f"**{n}** line" for n in (1, 2))
    assert capsys.readouterr().out == "1 line\n2 line\n"


def test_a_number_for_the_prose_is_glued_under_its_name(monkeypatch, capsys):
    shown = []
    monkeypatch.setattr("IPython.display.display",
                        lambda data, raw, metadata: shown.append((data, raw, metadata)))
    page.glue("lenet_ratio", "988")
    assert capsys.readouterr().out == ""  # nothing printed: the prose shows it
    assert shown == [({page.GLUE_PREFIX + "text/markdown": "988"}, True,
                      {"scrapbook": {"name": "lenet_ratio", "mime_prefix": page.GLUE_PREFIX}})]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("two words", "1", "identifier"), (3, "1", "identifier"),
    ("ok", "", "non-empty"), ("ok", 1.5, "non-empty")])
def test_glue_refuses_a_bad_name_or_empty_text(name, text, message):
    with pytest.raises(ValueError, match=message):
        page.glue(name, text)
